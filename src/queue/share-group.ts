/**
 * One share group: its config, its workers (string ids mapped to small integers for the
 * partitions' typed arrays) and its share-partitions. Liveness: a worker is known from its
 * first acquire or heartbeat; every call it makes refreshes it; the coordinator's tick
 * removes workers silent for sessionTimeoutMs and releases what they held.
 */
import { GroupLimits } from './group-limits.js';
import { SharePartition } from './share-partition.js';
import { tpKey, type ShareGroupConfig } from './types.js';

export interface Worker {
  readonly id: string;
  readonly handle: number;
  lastSeen: number;
  /** Records this worker acquired in total (for describe and tests of fairness). */
  acquired: number;
}

export class ShareGroup {
  readonly workers = new Map<string, Worker>();
  readonly partitions = new Map<string, SharePartition>();
  /** Last log end offset seen per partition (backlog beyond the window, for describe). */
  readonly logEnds = new Map<string, number>();
  /** Rotates the partition a hand-out starts with, so no partition starves. */
  cursor = 0;
  configDirty = false;
  /** Rate and concurrency limits across the group's workers (config.rateLimit, config.maxInFlight). */
  readonly limits = new GroupLimits();
  private nextHandle = 1;
  private readonly cfgFn = () => this.config;

  constructor(readonly id: string, public config: ShareGroupConfig) {}

  worker(id: string, now: number): Worker {
    let w = this.workers.get(id);
    if (!w) {
      w = { id, handle: this.nextHandle++, lastSeen: now, acquired: 0 };
      this.workers.set(id, w);
    }
    w.lastSeen = now;
    return w;
  }

  /** The share-partition, created at the log start (earliest) or end (latest) on first use. */
  partition(topic: string, partition: number, logStartOffset: number, logEndOffset: number): SharePartition {
    return this.partitions.get(tpKey(topic, partition))
      ?? this.restoredPartition(topic, partition, this.config.startFrom === 'latest' ? logEndOffset : logStartOffset);
  }

  /** The share-partition, created at exactly `startOffset` on first use (for replay, and for partition()). */
  restoredPartition(topic: string, partition: number, startOffset: number): SharePartition {
    const key = tpKey(topic, partition);
    let p = this.partitions.get(key);
    if (!p) {
      p = new SharePartition(this.id, topic, partition, this.cfgFn, startOffset);
      this.partitions.set(key, p);
    }
    return p;
  }

  /** Replaces the share-partition by an empty one at `startOffset` (the group has no workers). */
  resetPartition(topic: string, partition: number, startOffset: number): SharePartition {
    const key = tpKey(topic, partition);
    const p = SharePartition.resetFrom(this.partitions.get(key), this.id, topic, partition, this.cfgFn, startOffset);
    this.partitions.set(key, p);
    return p;
  }

  /** Records the group holds now, over all its partitions. */
  inFlight(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.inFlight;
    return n;
  }

  existing(topic: string, partition: number): SharePartition | undefined {
    return this.partitions.get(tpKey(topic, partition));
  }
}
