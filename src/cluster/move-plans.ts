/**
 * What `sluice cluster drain` and `sluice cluster rebalance` ask for: reassignment targets
 * (src/cluster/reassignment.ts) computed from the partitions' replica lists and the live
 * brokers. Pure, so the choices are tested on made-up clusters; the moves themselves are
 * ordinary reassignments the controller runs.
 *
 * Both keep a partition's replicas on distinct brokers and pick, for each replica to place,
 * the live broker holding the fewest replicas so far (ties: the lowest id), counting the moves
 * already planned, so replicas end up spread.
 */

export interface PlacedPartition {
  topic: string;
  partition: number;
  replicas: readonly number[];
}

export interface PlannedMove {
  topic: string;
  partition: number;
  from: number[];
  replicas: number[];
}

function counts(parts: readonly PlacedPartition[], live: readonly number[]): Map<number, number> {
  const c = new Map<number, number>(live.map((b) => [b, 0]));
  for (const p of parts) for (const b of p.replicas) c.set(b, (c.get(b) ?? 0) + 1);
  return c;
}

/** The live broker outside `exclude` with the fewest replicas (lowest id on ties), or undefined. */
function leastLoaded(c: Map<number, number>, live: readonly number[], exclude: readonly number[]): number | undefined {
  let best: number | undefined;
  for (const b of [...live].sort((x, y) => x - y)) {
    if (exclude.includes(b)) continue;
    if (best === undefined || c.get(b)! < c.get(best)!) best = b;
  }
  return best;
}

/**
 * Moves every replica off `node`: each is replaced, in its position, by the least loaded live
 * broker that holds no replica of the partition. A partition with no such broker (as many
 * replicas as live brokers other than `node`) cannot be drained: it is returned in `stuck`.
 */
export function planDrain(parts: readonly PlacedPartition[], node: number, live: readonly number[]): { moves: PlannedMove[]; stuck: PlacedPartition[] } {
  const others = live.filter((b) => b !== node);
  const c = counts(parts, others);
  const moves: PlannedMove[] = [];
  const stuck: PlacedPartition[] = [];
  for (const p of parts) {
    if (!p.replicas.includes(node)) continue;
    const to = leastLoaded(c, others, p.replicas);
    if (to === undefined) {
      stuck.push(p);
      continue;
    }
    c.set(to, c.get(to)! + 1);
    moves.push({ topic: p.topic, partition: p.partition, from: [...p.replicas], replicas: p.replicas.map((b) => (b === node ? to : b)) });
  }
  return { moves, stuck };
}

/**
 * Evens out replica counts over the live brokers (after brokers were added): while the most
 * loaded broker holds at least two more replicas than the least loaded, one of its replicas
 * (of a partition the least loaded does not hold) moves there, in the same position. A
 * partition moves at most once per plan; replicas on dead brokers are left to drain.
 */
export function planRebalance(parts: readonly PlacedPartition[], live: readonly number[]): PlannedMove[] {
  const c = counts(parts, live);
  const target = new Map(parts.map((p) => [`${p.topic}\u0000${p.partition}`, [...p.replicas]]));
  const moved = new Set<string>();
  const ids = [...live].sort((a, b) => a - b);
  for (;;) {
    const most = ids.reduce((a, b) => (c.get(b)! > c.get(a)! ? b : a));
    const least = ids.reduce((a, b) => (c.get(b)! < c.get(a)! ? b : a));
    if (c.get(most)! - c.get(least)! < 2) break;
    const p = parts.find((x) => {
      const k = `${x.topic}\u0000${x.partition}`;
      const r = target.get(k)!;
      return !moved.has(k) && r.includes(most) && !r.includes(least);
    });
    if (p === undefined) break;
    const k = `${p.topic}\u0000${p.partition}`;
    target.set(k, target.get(k)!.map((b) => (b === most ? least : b)));
    moved.add(k);
    c.set(most, c.get(most)! - 1);
    c.set(least, c.get(least)! + 1);
  }
  return parts.filter((p) => moved.has(`${p.topic}\u0000${p.partition}`))
    .map((p) => ({ topic: p.topic, partition: p.partition, from: [...p.replicas], replicas: target.get(`${p.topic}\u0000${p.partition}`)! }));
}
