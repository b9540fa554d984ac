/**
 * Shapes shared by the group coordinator's files. Nothing here does I/O.
 *
 * Inside the coordinator a topic-partition is a string key (`tpKey`, protocol/topic-partition.ts,
 * re-exported here), so sets of partitions are plain `Set<string>`s and
 * ownership is one `Map<string, memberId>`. Wire shapes use `{ topic, partitions[] }`.
 */
import { compareTpKeys, parseTpKey, tpKey, type TopicPartition } from '../protocol/topic-partition.js';

/** Injected time source so timeouts and expiry are testable without waiting. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export { compareTpKeys, parseTpKey, tpKey, type TopicPartition };

/** The wire form of a set of partitions: one entry per topic, partitions ascending. */
export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export function toTopicPartitions(keys: Iterable<string>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const k of keys) {
    const { topic, partition } = parseTpKey(k);
    let ps = byTopic.get(topic);
    if (!ps) byTopic.set(topic, (ps = []));
    ps.push(partition);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: byTopic.get(topic)!.sort((a, b) => a - b) }));
}

export function fromTopicPartitions(list: readonly TopicPartitions[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const { topic, partitions } of list ?? []) for (const p of partitions) out.add(tpKey(topic, p));
  return out;
}

/** One member as an assignor sees it. `topics` are already resolved (patterns expanded, unknown topics dropped). */
export interface AssignorMember {
  id: string;
  topics: readonly string[];
  /** The member's current target (not what it owns right now): stickiness is relative to it. */
  current: ReadonlySet<string>;
}

/**
 * A pure function: same input, same output, whatever the order of `members`. Every
 * partition of a topic some member subscribes to is assigned to exactly one member that
 * subscribes to it; every member appears in the result (possibly with an empty set).
 */
export type Assignor = (members: readonly AssignorMember[], partitionCounts: ReadonlyMap<string, number>) => Map<string, Set<string>>;

/** Kafka's consumer group states (KIP-848), as reported by describe and list. */
export type GroupState = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable' | 'Dead';

/**
 * Where a member is in its reconciliation towards its target assignment:
 *  - stable: it owns exactly its target at the target epoch;
 *  - unrevoked: it was told to give partitions up and has not confirmed yet (epoch not bumped);
 *  - unreleased: it is at the target epoch but waits for partitions other members still hold.
 */
export type MemberState = 'stable' | 'unrevoked' | 'unreleased';
