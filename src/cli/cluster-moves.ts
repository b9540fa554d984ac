/**
 * `sluice cluster drain NODE` and `sluice cluster rebalance`: plan reassignments from what a
 * broker's Metadata says (every topic's replicas, the live brokers; src/cluster/move-plans.ts),
 * start them through the Admin call, print each move, and with `--wait` wait until all are done.
 */
import { Api } from '../protocol/api.js';
import { errorName } from '../protocol/errors.js';
import type { Admin } from '../client/admin.js';
import { planDrain, planRebalance, type PlacedPartition, type PlannedMove } from '../cluster/move-plans.js';
import { waitForMoves } from './reassign-wait.js';
import { GROUP_COORDINATOR_TOPIC, SHARE_COORDINATOR_TOPIC } from '../topic-name.js';

export interface MoveOptions {
  wait?: boolean;
  timeoutMs: number;
  out: (line: string) => void;
}

/**
 * Every placed partition and the live brokers, from Metadata: the user topics (the full
 * listing) and the replicated internal topics, asked by name since the listing leaves them out
 * (they are replicas like any other: a drained broker must give up its coordinator partitions too).
 */
async function clusterLayout(admin: Admin): Promise<{ parts: PlacedPartition[]; live: number[] }> {
  const md = await admin.conn.request(Api.Metadata, {});
  if (md.brokers === undefined) throw new Error('the broker is not in cluster mode: there is nothing to move replicas to');
  const internal = await admin.conn.request(Api.Metadata, { topics: [GROUP_COORDINATOR_TOPIC, SHARE_COORDINATOR_TOPIC] });
  const parts: PlacedPartition[] = [];
  // An internal topic not created yet (no group used it) answers with an error and no partitions.
  for (const t of [...md.topics, ...internal.topics.filter((x) => x.error === undefined)]) {
    for (const p of t.partitionInfo ?? []) parts.push({ topic: t.name, partition: p.partition, replicas: p.replicas });
  }
  return { parts, live: md.brokers.map((b) => b.nodeId) };
}

async function start(admin: Admin, moves: PlannedMove[], o: MoveOptions): Promise<void> {
  if (moves.length === 0) {
    o.out('nothing to move');
    return;
  }
  await admin.reassignPartitions(moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: m.replicas })));
  for (const m of moves) o.out(`reassigning ${m.topic}-${m.partition}: ${m.from.join(',')} -> ${m.replicas.join(',')}`);
  if (o.wait) {
    await waitForMoves(admin, moves, o.timeoutMs);
    o.out(`done: ${moves.length} partition(s) moved`);
  }
}

export async function drain(admin: Admin, node: number, o: MoveOptions): Promise<void> {
  const { parts, live } = await clusterLayout(admin);
  const { moves, stuck } = planDrain(parts, node, live);
  if (stuck.length > 0) {
    throw new Error(`cannot drain broker ${node}: no live broker is free for ${stuck.map((p) => `${p.topic}-${p.partition} (replicas ${p.replicas.join(',')})`).join(', ')}; add a broker or lower the replication factor`);
  }
  await start(admin, moves, o);
}

/**
 * Evens out replicas (planRebalance), then leaders: every partition not led by its first
 * replica gets a preferred-leader election. With --wait the elections run once the moves are
 * done; without, on the partitions not being moved (a moving one places its leader itself).
 */
export async function rebalance(admin: Admin, o: MoveOptions): Promise<void> {
  const { parts, live } = await clusterLayout(admin);
  const moves = planRebalance(parts, live);
  await start(admin, moves, o);
  const moving = new Set(moves.map((m) => `${m.topic}\u0000${m.partition}`));
  const layout = o.wait ? await clusterLayout(admin) : undefined;
  const candidates = (layout?.parts ?? parts).filter((p) => o.wait || !moving.has(`${p.topic}\u0000${p.partition}`));
  await electLeaders(admin, candidates.map((p) => ({ topic: p.topic, partition: p.partition })), o.out, { quietWhenNeeded: true });
}

/**
 * `sluice cluster elect-leaders`: preferred-leader elections of `partitions` (all not led by
 * their first replica when undefined), one line per partition. With `quietWhenNeeded`
 * (rebalance's sweep) partitions led by their preferred replica already are not printed.
 * Returns how many could not be elected (their preferred replica not alive or not in sync).
 */
export async function electLeaders(admin: Admin, partitions: { topic: string; partition: number }[] | undefined, out: (line: string) => void, o: { quietWhenNeeded?: boolean } = {}): Promise<number> {
  const results = await admin.electPreferredLeaders(partitions);
  let failed = 0;
  let elected = 0;
  for (const r of results) {
    const name = `${r.topic}-${r.partition}`;
    if (r.leader !== undefined) {
      elected++;
      out(`elected the preferred leader of ${name}: broker ${r.leader}`);
    } else if (r.error !== undefined && errorName(r.error.code) === 'ELECTION_NOT_NEEDED') {
      if (!o.quietWhenNeeded) out(`${name}: ${r.error.message}`);
    } else if (r.error !== undefined) {
      failed++;
      out(`${name}: ${errorName(r.error.code)}: ${r.error.message}`);
    }
  }
  if (elected === 0 && failed === 0) out('leaders: every partition is led by its preferred replica');
  return failed;
}
