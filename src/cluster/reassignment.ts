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
 *   2. wait until every target replica is in the ISR (nothing to write);
 *   3. when the leader is not in the target: the first target replica that is live and in
 *      the ISR leads, at a new epoch (the leaving one becomes a follower, so acknowledged
 *      records stay where clients can read them);
 *   4. complete: replicas = target, the ISR loses the removed replicas, the reassignment
 *      fields go; the removed brokers delete their logs (they are no longer placed there).
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
  if (notInSync.length > 0 || s.leader === NO_LEADER) return { kind: 'waiting', notInSync };
  const target = targetReplicas(s);
  if (!target.includes(s.leader)) {
    const next = target.find((b) => live.has(b) && s.isr.includes(b));
    if (next === undefined) return { kind: 'waiting', notInSync: [] };
    return { kind: 'leader-moved', state: { ...s, leader: next, leaderEpoch: s.leaderEpoch + 1 } };
  }
  const { addingReplicas: _a, removingReplicas: _r, ...rest } = s;
  return { kind: 'completed', state: { ...rest, replicas: target, isr: s.isr.filter((b) => target.includes(b)) } };
}
