/**
 * What the nemesis hits, as pure functions of the seeded Rng and what Metadata said, so a seed
 * picks the same targets on the same cluster state (test/chaos/fault-choice.test.ts):
 *  - pickBroker(): which broker a broker fault hits; the consumer group's coordinator (the
 *    leader of its `__consumer_offsets` partition) half of the time when it may be hit, since
 *    that is where a fault costs the group its coordinator.
 *  - planReassignment(): which workload partition a `reassign` fault moves, and where.
 */
import type { Rng } from './random.js';

/** A broker fault's target, and whether it was the group coordinator's broker when chosen. */
export interface BrokerChoice { nodeId: number; coordinator: boolean }

/**
 * One of `candidates`; `coordinator` (the group coordinator's broker now, if known) with
 * probability 1/2 when it is a candidate, else a uniform pick (which may also land on it).
 * Undefined when there is no candidate.
 */
export function pickBroker(rng: Rng, candidates: readonly number[], coordinator?: number): BrokerChoice | undefined {
  if (candidates.length === 0) return undefined;
  if (coordinator !== undefined && candidates.includes(coordinator) && rng.next() < 0.5) return { nodeId: coordinator, coordinator: true };
  const nodeId = rng.pick(candidates);
  return { nodeId, coordinator: nodeId === coordinator };
}

/** One partition as Metadata shows it. */
export interface PartitionPlacement {
  topic: string;
  partition: number;
  replicas: readonly number[];
  /** A reassignment of it is running (Metadata's addingReplicas/removingReplicas): a second is refused. */
  reassigning: boolean;
}

/**
 * A reassignment of one partition:
 *  - `add`: a replica on a broker that has none, when the partition has fewer than
 *    `replicationFactor` replicas (a partition an earlier `remove` shrank);
 *  - `move`: one replica (which may be the leader: it then hands over) replaced by a live
 *    broker outside the set, when there is one (5 brokers at RF 3);
 *  - `remove`: one replica dropped, when every live broker holds one (3 brokers at RF 3: the
 *    only change of placement there is; the next `add` restores the factor).
 */
export interface ReassignPlan {
  topic: string;
  partition: number;
  kind: 'add' | 'move' | 'remove';
  from: number[];
  to: number[];
}

/**
 * A plan for a random partition that is not being reassigned, or undefined when every one is.
 * `live`: the registered brokers. `pinned`: per topic, brokers that must keep their replica
 * (the share group's broker for the jobs topic: share state is read from local logs only).
 */
export function planReassignment(
  rng: Rng, partitions: readonly PartitionPlacement[], live: readonly number[], replicationFactor: number,
  pinned: ReadonlyMap<string, readonly number[]> = new Map(),
): ReassignPlan | undefined {
  const idle = partitions.filter((p) => !p.reassigning && p.replicas.length > 0);
  if (idle.length === 0) return undefined;
  const p = rng.pick(idle);
  const from = [...p.replicas];
  const outside = live.filter((n) => !from.includes(n));
  const keep = pinned.get(p.topic) ?? [];
  const movable = from.filter((n) => !keep.includes(n));
  const base = { topic: p.topic, partition: p.partition, from };
  if (outside.length > 0 && from.length < replicationFactor) return { ...base, kind: 'add', to: [...from, rng.pick(outside)] };
  if (movable.length === 0) return undefined;
  const gone = rng.pick(movable);
  if (outside.length > 0) {
    const added = rng.pick(outside);
    return { ...base, kind: 'move', to: from.map((n) => (n === gone ? added : n)) };
  }
  // Never below two replicas: minInsyncReplicas is 2, so one replica would refuse every acks=all write.
  if (from.length <= 2) return undefined;
  return { ...base, kind: 'remove', to: from.filter((n) => n !== gone) };
}
