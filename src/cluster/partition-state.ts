/**
 * A partition's replication state, the value of `partitions/<topic>/<p>` in etcd
 * (docs/cluster.md): its replicas, the current leader and leader epoch, and the in-sync
 * replica set. Kafka kept the same record in ZooKeeper's /brokers/topics/<t>/partitions/<p>/state.
 *
 * The transitions are pure functions here; who may write them (the controller for leader and
 * epoch, the leader for the ISR) and the compare-and-swap on the key's mod revision live with
 * the writers. Every transition that changes the leader bumps the leader epoch, the number
 * that fences a deposed leader's requests and drives follower truncation (KIP-101).
 */

export const NO_LEADER = -1;

export interface PartitionState {
  /** Brokers holding a replica, preferred leader first. */
  readonly replicas: readonly number[];
  /** The leading broker, or NO_LEADER while the partition is offline. */
  readonly leader: number;
  readonly leaderEpoch: number;
  /** Replicas known to hold every acknowledged record; always contains the leader when there is one. */
  readonly isr: readonly number[];
  /**
   * A reassignment in progress (KIP-455, src/cluster/reassignment.ts): replicas being added
   * (in `replicas`, not yet in the target's ISR) and replicas to drop once it completes. Absent
   * when none runs; stored in the partition's key so a new controller finishes it.
   */
  readonly addingReplicas?: readonly number[];
  readonly removingReplicas?: readonly number[];
}

/** The state of a new partition: the first replica leads at epoch 0 and every replica is in sync (all logs are empty). */
export function initialState(replicas: readonly number[]): PartitionState {
  return { replicas: [...replicas], leader: replicas[0] ?? NO_LEADER, leaderEpoch: 0, isr: [...replicas] };
}

export type ElectionResult =
  | { kind: 'unchanged' }
  | { kind: 'changed'; state: PartitionState }
  | { kind: 'offline'; state: PartitionState };

/**
 * After brokers died (their leases expired): keeps a live leader, else picks the first live
 * ISR member in replica order and bumps the epoch. With no live ISR member the partition goes
 * offline rather than lose acknowledged records, unless `unclean` allows any live replica
 * (Kafka's unclean.leader.election.enable), which may lose them.
 */
export function electLeader(s: PartitionState, live: ReadonlySet<number>, unclean = false): ElectionResult {
  const liveIsr = s.isr.filter((b) => live.has(b));
  if (s.leader !== NO_LEADER && live.has(s.leader)) {
    if (liveIsr.length === s.isr.length) return { kind: 'unchanged' };
    // The leader lives; dead followers leave the ISR (no epoch change: the leader did not change).
    return { kind: 'changed', state: { ...s, isr: liveIsr } };
  }
  const clean = s.replicas.find((b) => live.has(b) && s.isr.includes(b));
  const pick = clean ?? (unclean ? s.replicas.find((b) => live.has(b)) : undefined);
  if (pick === undefined) {
    // Keep the last ISR: it names who must come back for the partition to return without loss.
    if (s.leader === NO_LEADER) return { kind: 'unchanged' };
    return { kind: 'offline', state: { ...s, leader: NO_LEADER, leaderEpoch: s.leaderEpoch + 1 } };
  }
  const isr = clean !== undefined ? liveIsr : [pick];
  return { kind: 'changed', state: { ...s, leader: pick, leaderEpoch: s.leaderEpoch + 1, isr } };
}

/**
 * Controlled shutdown of `broker` (Kafka's controlled shutdown): its leadership moves to
 * another live ISR member and it leaves the ISR, so clients retry once instead of waiting for
 * its lease to expire. Undefined when nothing changes; when it leads and no other ISR member
 * is alive, it keeps leading (moving would lose records) and the caller reports that.
 */
export function moveAwayFrom(s: PartitionState, broker: number, live: ReadonlySet<number>): PartitionState | undefined {
  if (s.leader !== broker) {
    if (!s.isr.includes(broker) || s.isr.length <= 1) return undefined;
    return { ...s, isr: s.isr.filter((b) => b !== broker) };
  }
  const next = s.replicas.find((b) => b !== broker && live.has(b) && s.isr.includes(b));
  if (next === undefined) return undefined;
  return { ...s, leader: next, leaderEpoch: s.leaderEpoch + 1, isr: s.isr.filter((b) => b !== broker) };
}

export type PreferredElection =
  | { kind: 'elected'; state: PartitionState }
  /** The preferred replica leads already (ELECTION_NOT_NEEDED). */
  | { kind: 'not-needed' }
  /** It cannot lead now (PREFERRED_LEADER_NOT_AVAILABLE): why, for the operator. */
  | { kind: 'not-available'; reason: string };

/**
 * Preferred-leader election (Kafka's kafka-leader-election --election-type preferred): the
 * first replica leads, at a new epoch, when it is live and in the ISR (it then holds every
 * acknowledged record; the old leader becomes a follower and stays in the ISR). Not while the
 * partition is being reassigned: its replica list is changing, and the reassignment places
 * the leader itself.
 */
export function electPreferredLeader(s: PartitionState, live: ReadonlySet<number>): PreferredElection {
  const preferred = s.replicas[0];
  if (preferred === undefined) return { kind: 'not-available', reason: 'the partition has no replicas' };
  if (s.leader === preferred) return { kind: 'not-needed' };
  if (s.addingReplicas !== undefined || s.removingReplicas !== undefined) return { kind: 'not-available', reason: 'it is being reassigned' };
  if (!live.has(preferred)) return { kind: 'not-available', reason: `its preferred replica ${preferred} is not alive` };
  if (!s.isr.includes(preferred)) return { kind: 'not-available', reason: `its preferred replica ${preferred} is not in the ISR (${s.isr.join(',')})` };
  return { kind: 'elected', state: { ...s, leader: preferred, leaderEpoch: s.leaderEpoch + 1 } };
}

/** The leader's ISR change: a follower that fell behind leaves, a caught-up one rejoins; the leader and epoch stay. */
export function withIsr(s: PartitionState, isr: readonly number[]): PartitionState {
  if (s.leader !== NO_LEADER && !isr.includes(s.leader)) throw new Error(`the ISR ${JSON.stringify(isr)} must contain the leader ${s.leader}`);
  for (const b of isr) if (!s.replicas.includes(b)) throw new Error(`ISR member ${b} is not a replica (${s.replicas.join(', ')})`);
  const ordered = s.replicas.filter((b) => isr.includes(b));
  return { ...s, isr: ordered };
}

/** Parses a stored state, naming what is wrong, for values that did not come from a broker. */
export function parsePartitionState(json: string): PartitionState {
  const v = JSON.parse(json) as Record<string, unknown>;
  const ints = (x: unknown, what: string): number[] => {
    if (!Array.isArray(x) || !x.every((b) => Number.isInteger(b))) throw new Error(`partition state: ${what} must be an array of node ids`);
    return x as number[];
  };
  if (!Number.isInteger(v.leader) || !Number.isInteger(v.leaderEpoch)) throw new Error('partition state: leader and leaderEpoch must be integers');
  const s: PartitionState = { replicas: ints(v.replicas, 'replicas'), leader: v.leader as number, leaderEpoch: v.leaderEpoch as number, isr: ints(v.isr, 'isr') };
  if (v.addingReplicas === undefined && v.removingReplicas === undefined) return s;
  return { ...s, addingReplicas: ints(v.addingReplicas ?? [], 'addingReplicas'), removingReplicas: ints(v.removingReplicas ?? [], 'removingReplicas') };
}
