/** Doubles for the replication tests: partition states fed by the test, and a Follower (another part builds the real one). */
import { EventEmitter } from 'node:events';
import type { StoredPartitionState } from '../../src/cluster/partition-state-store.js';
import type { PartitionState } from '../../src/cluster/partition-state.js';
import { tpKey } from '../../src/protocol/topic-partition.js';
import type { PartitionStateSource } from '../../src/replication/replica-manager.js';
import type { FollowedPartition, Follower } from '../../src/replication/types.js';

type Listener = (topic: string, partition: number, state: StoredPartitionState | undefined) => void;

/** Partition states as a test feeds them, with a mod revision that grows like etcd's. */
export class FedStates implements PartitionStateSource {
  private readonly map = new Map<string, StoredPartitionState>();
  private readonly events = new EventEmitter<{ partition: Parameters<Listener> }>();
  private rev = 0;

  partition(topic: string, partition: number): StoredPartitionState | undefined {
    return this.map.get(tpKey(topic, partition));
  }

  partitions(): Iterable<StoredPartitionState> {
    return this.map.values();
  }

  on(_event: 'partition', fn: Listener): unknown {
    return this.events.on('partition', fn);
  }

  off(_event: 'partition', fn: Listener): unknown {
    return this.events.off('partition', fn);
  }

  /** Stores and emits `state` with the next mod revision; returns what was emitted. */
  set(topic: string, partition: number, state: PartitionState): StoredPartitionState {
    const s: StoredPartitionState = { topic, partition, state, modRevision: ++this.rev, key: `/test/partitions/${topic}/${partition}` };
    this.map.set(tpKey(topic, partition), s);
    this.events.emit('partition', topic, partition, s);
    return s;
  }

  /** Emits `s` as given (an old state arriving late), without storing it. */
  replay(s: StoredPartitionState): void {
    this.events.emit('partition', s.topic, s.partition, s);
  }

  delete(topic: string, partition: number): void {
    this.map.delete(tpKey(topic, partition));
    this.events.emit('partition', topic, partition, undefined);
  }
}

/** Records what the manager asked of the follower side. */
export class RecordingFollower implements Follower {
  readonly calls: string[] = [];
  readonly following = new Map<string, FollowedPartition>();
  /** What highWatermark() reports per partition (the leader's last answer, or what follow() was handed), -1 by default. */
  readonly hw = new Map<string, number>();

  follow(p: FollowedPartition): void {
    this.calls.push(`follow ${p.topic}-${p.partition} leader ${p.leaderId} epoch ${p.leaderEpoch}`);
    this.following.set(tpKey(p.topic, p.partition), p);
    // As the ReplicaFetcher: what the replica knew committed stands until the leader answers.
    if (p.highWatermark !== undefined) this.hw.set(tpKey(p.topic, p.partition), p.highWatermark);
  }

  unfollow(topic: string, partition: number): Promise<void> {
    this.calls.push(`unfollow ${topic}-${partition}`);
    this.following.delete(tpKey(topic, partition));
    return Promise.resolve();
  }

  highWatermark(topic: string, partition: number): number {
    return this.hw.get(tpKey(topic, partition)) ?? -1;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** A clock the test moves. */
export class TestClock {
  constructor(public ms = 1_000_000) {}
  readonly now = (): number => this.ms;
}
