/**
 * Moving a partition's replicas between brokers (docs/cluster.md, "Moving data between
 * brokers"), as Kafka does since KIP-455: the reassignment is recorded in the partition's own
 * state (`addingReplicas`, `removingReplicas`), so it lives in etcd and any controller can
 * carry it on. While it runs, `replicas` is the target followed by the replicas being removed:
 * the brokers being added create the log and fetch from the leader like any follower (their
 * placement is `replicas`), and the leader adds them to the ISR once they caught up.
 *
 * The steps, each one controller write (compare-and-swap, fenced by the controller epoch):
 *   1. start: replicas = target + removing, addingReplicas / removingReplicas recorded;
 *   2. leadership first: when the leader is not in the target, the first target replica that
 *      is live and in the ISR leads, at a new epoch, as soon as there is one (the leaving one
 *      becomes a follower, so acknowledged records stay where clients can read them). A
 *      drained broker so hands its leaderships over at once, not when each replacement has
 *      copied the log (Kafka's controlled shutdown does the same for a stopping broker);
 *   3. wait until every target replica is in the ISR (nothing to write); a leader with no
 *      in-sync target replica to hand over to (RF 1) hands over then;
 *   4. complete: replicas = target, the ISR loses the removed replicas, the reassignment
 *      fields go; the removed brokers delete their logs (they are no longer placed there).
 * Cancelling (KIP-455's cancel, `cancelReassignment`) writes the original replicas back: the
 * adding brokers are no longer placed and delete their logs, and a leader that had moved to
 * a replica outside the original ones hands back to the first original replica in sync.
 * Pure functions; the controller (controller.ts) and `ReassignmentAdmin` write them.
 */
import { SluiceError } from '../errors.js';
import { NO_LEADER, type PartitionState } from './partition-state.js';

/** A replica list that cannot be a target: empty, repeated ids, or brokers the cluster does not know. */
export class InvalidReplicaAssignmentError extends SluiceError {
  constructor(message: string) {
    super('INVALID_REPLICA_ASSIGNMENT', message);
  }
}

/** A partition that is already being reassigned: one at a time, so the target in etcd is always the one asked for. */
export class ReassignmentInProgressError extends SluiceError {
  constructor(message: string) {
    super('REASSIGNMENT_IN_PROGRESS', message);
  }
}

/** Cancelling a partition that is not being reassigned, or whose cancel would lose acknowledged records. */
export class NoReassignmentInProgressError extends SluiceError {
  constructor(message: string) {
    super('NO_REASSIGNMENT_IN_PROGRESS', message);
  }
}

/** Whether a reassignment of this partition is running. */
export function isReassigning(s: PartitionState): boolean {
  return s.addingReplicas !== undefined || s.removingReplicas !== undefined;
}

/** The replicas the partition will have once its reassignment completes (its replicas when none runs). */
export function targetReplicas(s: PartitionState): number[] {
  const removing = s.removingReplicas ?? [];
  return s.replicas.filter((b) => !removing.includes(b));
}

/** The replicas the partition had before its reassignment started. */
export function originReplicas(s: PartitionState): number[] {
  const adding = s.addingReplicas ?? [];
  return s.replicas.filter((b) => !adding.includes(b));
}

/** Target replicas not yet in the ISR: what a running reassignment waits for. */
export function replicasNotInSync(s: PartitionState): number[] {
  return targetReplicas(s).filter((b) => !s.isr.includes(b));
}

/**
 * Checks a requested target, naming what is wrong: not empty, whole positive ids, no id twice,
 * every id a broker the cluster knows (registered now, or holding a replica already).
 */
export function checkTarget(target: readonly number[], knownBrokers: ReadonlySet<number>, where: string): void {
  if (target.length === 0) throw new InvalidReplicaAssignmentError(`${where}: the replica list is empty`);
  const bad = target.filter((b) => !Number.isInteger(b) || b < 0);
  if (bad.length > 0) throw new InvalidReplicaAssignmentError(`${where}: ${bad.join(', ')} is not a node id`);
  const dup = target.filter((b, i) => target.indexOf(b) !== i);
  if (dup.length > 0) throw new InvalidReplicaAssignmentError(`${where}: broker ${[...new Set(dup)].join(', ')} is listed more than once in ${target.join(',')}`);
  const unknown = target.filter((b) => !knownBrokers.has(b));
  if (unknown.length > 0) {
    const known = [...knownBrokers].sort((a, b) => a - b).join(', ') || 'none';
    throw new InvalidReplicaAssignmentError(`${where}: unknown broker ${unknown.join(', ')} (known brokers: ${known})`);
  }
}

/**
 * The state that starts moving `s` to `target` (step 1). Refuses a bad target and a partition
 * already being reassigned; undefined when `target` is already the replica list (nothing to do).
 */
export function startReassignment(s: PartitionState, target: readonly number[], knownBrokers: ReadonlySet<number>, where: string): PartitionState | undefined {
  checkTarget(target, knownBrokers, where);
  if (isReassigning(s)) {
    throw new ReassignmentInProgressError(`${where}: a reassignment to ${targetReplicas(s).join(',')} is already running (from ${originReplicas(s).join(',')})`);
  }
  if (target.length === s.replicas.length && target.every((b, i) => s.replicas[i] === b)) return undefined;
  const adding = target.filter((b) => !s.replicas.includes(b));
  const removing = s.replicas.filter((b) => !target.includes(b));
  return { ...s, replicas: [...target, ...removing], addingReplicas: adding, removingReplicas: removing };
}

export type ReassignmentStep =
  | { kind: 'none' }
  /** Target replicas not in the ISR yet (or no live in-sync target replica to lead). */
  | { kind: 'waiting'; notInSync: number[] }
  | { kind: 'leader-moved'; state: PartitionState }
  | { kind: 'completed'; state: PartitionState };

/** The next step of a running reassignment (steps 2 to 4), given the live brokers. */
export function reassignmentStep(s: PartitionState, live: ReadonlySet<number>): ReassignmentStep {
  if (!isReassigning(s)) return { kind: 'none' };
  const notInSync = replicasNotInSync(s);
  if (s.leader === NO_LEADER) return { kind: 'waiting', notInSync };
  const target = targetReplicas(s);
  if (!target.includes(s.leader)) {
    // Leadership leaves first: any live in-sync target replica holds every acknowledged record.
    const next = target.find((b) => live.has(b) && s.isr.includes(b));
    if (next === undefined) return { kind: 'waiting', notInSync };
    return { kind: 'leader-moved', state: { ...s, leader: next, leaderEpoch: s.leaderEpoch + 1 } };
  }
  if (notInSync.length > 0) return { kind: 'waiting', notInSync };
  const { addingReplicas: _a, removingReplicas: _r, ...rest } = s;
  return { kind: 'completed', state: { ...rest, replicas: target, isr: s.isr.filter((b) => target.includes(b)) } };
}

/**
 * The state that cancels the running reassignment of `s` (KIP-455's cancel): the original
 * replicas (in the running list's order without the adding ones, as Kafka's cancel: the
 * stored state does not keep their first order), the ISR without the adding replicas, no reassignment fields. A
 * leader outside the original replicas (it moved to an added replica once that caught up)
 * hands back, at a new epoch, to the first original replica that is live and in the ISR.
 * Refuses (NO_REASSIGNMENT_IN_PROGRESS) a partition not being reassigned, one without a
 * leader, and one no original replica could lead without losing acknowledged records.
 */
export function cancelReassignment(s: PartitionState, live: ReadonlySet<number>, where: string): PartitionState {
  if (!isReassigning(s)) throw new NoReassignmentInProgressError(`${where}: no reassignment is running (replicas ${s.replicas.join(',')})`);
  if (s.leader === NO_LEADER) throw new NoReassignmentInProgressError(`${where}: the partition has no leader; cancel once it has one`);
  const origin = originReplicas(s);
  const { addingReplicas: _a, removingReplicas: _r, ...rest } = s;
  const isr = s.isr.filter((b) => origin.includes(b));
  if (origin.includes(s.leader)) return { ...rest, replicas: origin, isr };
  const next = origin.find((b) => live.has(b) && s.isr.includes(b));
  if (next === undefined) {
    throw new NoReassignmentInProgressError(`${where}: no original replica (${origin.join(',')}) is live and in sync (ISR ${s.isr.join(',')}), so none can lead without losing acknowledged records; let the reassignment finish`);
  }
  return { ...rest, replicas: origin, leader: next, leaderEpoch: s.leaderEpoch + 1, isr };
}
