/**
 * The storage contract the broker programs against. `log-manager.ts` and
 * `partition-log.ts` implement it on disk. Offsets and timestamps are JS numbers (exact
 * to 2^53). All methods that touch files are async; none blocks the event loop.
 */

import type { EpochEndOffset, EpochEntry } from './leader-epoch-cache.js';
import type { ReadBufferPool } from './read-buffer-pool.js';
import type { PartitionVerifyReport } from './verify.js';
import type { TopicEvents } from './topic-events.js';

export interface ReadOptions {
  /**
   * Read into a buffer from this pool; the caller hands the bytes back with pool.release()
   * once nothing reads them any more (see read-buffer-pool.ts).
   */
  pool?: ReadBufferPool;
  /**
   * Only whole batches within maxBytes: empty when the first one is larger (instead of
   * returning it whole). Costs a small probe read (the index interval) before the data, so
   * a batch that does not fit is never read; when the probe reached the end of the segment or
   * maxBytes, the answer is cut from it without a second read. For the partitions after the
   * first in a fetch.
   */
  fitOnly?: boolean;
  /**
   * Only records below this offset (cluster mode: a consumer reads below the high watermark).
   * Whole stored batches whose last offset is below it; a batch straddling it is left out, and
   * a read at or past it returns nothing. Undefined: up to the log end.
   */
  maxOffset?: number | undefined;
}

/** Per-log settings. Names follow Kafka's topic configs (segment.bytes -> segmentBytes). */
export interface LogConfig {
  /** Roll to a new segment once the active one reaches this size. Default 1 GiB. */
  segmentBytes: number;
  /** Roll once the active segment's first batch is this old. Default 7 days. */
  segmentMs: number;
  /** Bytes appended between two sparse index entries. Default 4096. */
  indexIntervalBytes: number;
  /** Delete closed segments whose newest record is older than this; -1 keeps forever. Default 7 days. */
  retentionMs: number;
  /** Delete oldest closed segments while the log is larger than this; -1 = no limit. Default -1. */
  retentionBytes: number;
  /** fsync after this many appended messages; -1 = never by count. Default -1. */
  flushMessages: number;
  /** fsync at least this often while there is unflushed data; -1 = never by time. Default 1000. */
  flushMs: number;
  /**
   * Cluster mode: an acks=all produce needs this many in-sync replicas (default from the
   * replication factor, docs/cluster.md). Storage ignores it; it travels with the topic's other
   * overrides as Kafka's LogConfig carries min.insync.replicas. Absent on a single broker.
   */
  minInsyncReplicas?: number;
}

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  flushMessages: -1,
  flushMs: 1000,
});

export interface AppendOptions {
  /** Resolve only after the appended bytes are fsynced (shared with concurrent durable appends). */
  durable?: boolean;
  /**
   * Cluster mode, as the partition's leader: stamp this epoch (an i32 >= 0) into every
   * batch's partitionLeaderEpoch (outside the CRC, like the base offset) and, when it is a
   * new epoch, record where it starts in the leader-epoch cache (its checkpoint is written
   * before the batches).
   */
  leaderEpoch?: number;
  /**
   * Cluster mode, as a follower: the batches are the leader's bytes and are stored unchanged,
   * offsets and epochs included. The first must start at the log end offset and each must
   * follow the one before (else UnexpectedAppendOffsetError, nothing stored); each new epoch
   * in them is recorded in the leader-epoch cache.
   */
  asFollower?: boolean;
  /**
   * Write on the calling thread (StorageFile.writevSync) instead of through libuv's thread
   * pool, when the write is at most IN_PLACE_WRITE_MAX_BYTES (segment.ts) and every append
   * written with it asked for this. For the state logs' appends (a few hundred bytes, one
   * per I/O phase), where the hand-off to the pool costs far more than the write; produce
   * keeps the pool (docs/queue-performance.md, steps 9 and 12). Durability is unchanged: only
   * an fsync makes an append durable, and fsyncs stay in the pool.
   */
  inPlace?: boolean;
}

export interface AppendResult {
  /** Offset given to the first record appended. */
  baseOffset: number;
  /** Offset of the last record appended. */
  lastOffset: number;
  /** Log end offset after this append. */
  logEndOffset: number;
  /**
   * The batches were an idempotent producer's retry of batches already stored: nothing was
   * appended, and the offsets are those of the first store.
   */
  duplicate?: boolean;
}

export interface ReadResult {
  /** Whole stored batches, as stored, starting with the batch that holds the requested offset. Empty at the log end. */
  bytes: Buffer;
  logStartOffset: number;
  logEndOffset: number;
}

export interface PartitionStats {
  logStartOffset: number;
  logEndOffset: number;
  sizeBytes: number;
  segmentCount: number;
  /** fsync rounds since open (group commit makes this far smaller than durable appends). */
  fsyncCount?: number;
}

export interface PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  readonly config: Readonly<LogConfig>;
  /** First offset still stored. */
  readonly logStartOffset: number;
  /** Offset the next appended record gets (= high watermark: there are no replicas). */
  readonly logEndOffset: number;

  /**
   * Appends one buffer of concatenated batches. Validates every batch first (length, magic,
   * CRC; throws CorruptBatchError and stores nothing on failure), then stamps base offsets
   * in place and writes. Appends to one partition are applied in call order.
   */
  append(batches: Buffer, opts?: AppendOptions): Promise<AppendResult>;
  /**
   * Reads whole batches starting with the one holding `offset`, up to `maxBytes`; the first
   * batch is returned whole even when larger than `maxBytes`, so a reader always progresses.
   * Throws OffsetOutOfRangeError when offset < logStartOffset or > logEndOffset.
   */
  read(offset: number, maxBytes: number, opts?: ReadOptions): Promise<ReadResult>;
  /**
   * Starts opening the file a read at `offset` will use if the open-file cache closed it, and
   * returns at once; a no-op when it is open or `offset` holds nothing. A fetch of many
   * partitions, read one after another, calls it a few partitions ahead so the opens overlap.
   */
  prefetch?(offset: number): void;
  /** Offset of the first record with timestamp >= ts (Kafka's ListOffsets rule), or null when none. */
  offsetForTimestamp(ts: number): Promise<number | null>;
  stats(): PartitionStats;
  /** Checks every stored batch, CRC included, and reports each problem (verify.ts). */
  verify(): Promise<PartitionVerifyReport>;
  /** fsync everything appended so far. */
  flush(): Promise<void>;
  /**
   * Removes the records at and after `offset` (the batch holding it whole) and resolves with
   * the new log end offset once that is durable; keeps the leader-epoch cache consistent.
   */
  truncateTo(offset: number): Promise<number>;
  /**
   * Cluster mode, becoming the partition's leader (Kafka's makeLeader): records that `epoch`
   * starts at the current log end, durably, in the append queue (after the appends queued
   * before it), so OffsetsForLeaderEpoch answers for the new epoch before its first append.
   */
  assignLeaderEpoch(epoch: number): Promise<void>;
  /**
   * Removes every record and leader epoch and restarts the log empty at `offset` (log start =
   * log end = offset); resolves with it once durable. A follower's answer to a leader whose
   * log start passed its log end (Kafka's truncateFullyAndStartAt).
   */
  truncateFullyAndStartAt(offset: number): Promise<number>;
  /**
   * Moves the log start up to `offset` (Kafka's DeleteRecords): reads below it are out of
   * range, segments wholly below it are deleted; resolves with the start once durable. For a
   * replicated internal partition's snapshot (docs/cluster.md, "Coordinators") and a
   * follower copying its leader's log start.
   */
  advanceLogStartOffset(offset: number): Promise<number>;
  /** The newest leader epoch that wrote to this log, or -1. */
  latestEpoch(): number;
  /** Where `epoch` ends on this log (Kafka's OffsetsForLeaderEpoch answer; LeaderEpochCache.endOffsetFor). */
  endOffsetForEpoch(epoch: number): EpochEndOffset;
  /** The leader-epoch cache: (epoch, first offset written in it), oldest first. */
  leaderEpochs(): readonly EpochEntry[];
  /** Deletes closed segments past retention; returns how many were deleted. */
  enforceRetention(now?: number): Promise<number>;
  /** Flushes and closes, leaving a clean-shutdown marker. */
  close(): Promise<void>;
}

/** Cluster mode: how a new topic is replicated (a single broker holds one replica). */
export interface CreateTopicOptions {
  /** Replicas per partition; default min(3, live brokers). */
  replicationFactor?: number;
}

export interface TopicInfo {
  name: string;
  partitions: number;
  /** Overrides given at creation; the effective config is broker defaults + these. */
  config: Partial<LogConfig>;
  createdAt: number;
}

/**
 * The broker's topics: metadata (metadata-store.ts) and the local logs it lists
 * (local-logs.ts), changed together by log-manager.ts.
 */
export interface LogManager {
  readonly dataDir: string;
  /** topicCreated / topicDeleted / partitionsAdded, once each change is durable and the local logs match it. */
  readonly events: TopicEvents;
  createTopic(name: string, partitions: number, config?: Partial<LogConfig>, opts?: CreateTopicOptions): Promise<TopicInfo>;
  /** Closes and removes the topic's directories and metadata. */
  deleteTopic(name: string): Promise<void>;
  /** Adds partitions to an existing topic (never removes). */
  addPartitions(name: string, totalPartitions: number): Promise<TopicInfo>;
  topic(name: string): TopicInfo | undefined;
  topics(): TopicInfo[];
  /** The open log, or undefined for an unknown topic or partition (in cluster mode also for a partition placed on other brokers). */
  log(topic: string, partition: number): PartitionLog | undefined;
  /** Runs retention on every log; the manager also does this on a timer. */
  enforceRetention(now?: number): Promise<number>;
  close(): Promise<void>;
}
