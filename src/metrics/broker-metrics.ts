/**
 * What the broker reports, as one interface with two implementations: Prometheus-backed
 * (`prom-broker-metrics.ts`) and a no-op (`noop-broker-metrics.ts`) for `metrics: false`, so
 * the broker calls the same methods either way and the on/off benchmark compares like with like.
 *
 * Cost contract (the hot path may lose at most 3% with metrics on): every per-request method
 * is O(1) with no allocation once its label set has been seen — a Map lookup and a few adds.
 * Call them once per request or per partition, never per record. Gauges that describe state
 * (offsets, disk, groups, queues) are not pushed at all: register a collector and it is called
 * once per scrape.
 *
 * Label values must come from bounded sets: topic names, api names, wire error names, group
 * ids. Never message keys or client ids. Each family also caps its own cardinality (10,000
 * topics, 64 apis, 128 error names); past the cap, new values are reported as `_other`.
 */
import { NoopBrokerMetrics } from './noop-broker-metrics.js';
import { PromBrokerMetrics } from './prom-broker-metrics.js';
import type { ReplicationStats } from '../replication/replica-manager.js';
import type { OpenFileStats } from '../storage/open-file-cache.js';

export type { ReplicationStats } from '../replication/replica-manager.js';
export type { OpenFileStats } from '../storage/open-file-cache.js';

/** One partition's log, as reported at scrape time. */
export interface PartitionStats {
  topic: string;
  partition: number;
  logStartOffset: number;
  /** The high watermark: offset the next record will get. */
  logEndOffset: number;
  sizeBytes: number;
  segmentCount: number;
  /** fsync rounds since the log was opened (storage's PartitionStats.fsyncCount); omit if unknown. */
  fsyncCount?: number;
}

export interface GroupPartitionStats {
  topic: string;
  partition: number;
  committedOffset: number;
  logEndOffset: number;
  /** logEndOffset - committedOffset, clamped at 0. */
  lagMessages: number;
  /** Age of the oldest record not yet committed (0 when caught up); omit when unknown. */
  lagSeconds?: number;
}

export interface GroupStats {
  group: string;
  /** A group state name (Empty, Assigning, Reconciling, Stable, Dead). */
  state: string;
  members: number;
  partitions: readonly GroupPartitionStats[];
}

/** One queue-mode group on one topic. All counts are messages. */
export interface QueueStats {
  group: string;
  topic: string;
  inFlight: number;
  available: number;
  /** ...of which wait for a time: a delivery time (delayed jobs) or a retry backoff. */
  delayed: number;
  acked: number;
  deadLettered: number;
  /** Cancelled by an admin (ShareCancel), in total. */
  cancelled: number;
  /** Age of the oldest delivered-but-unacked message, 0 when none. */
  oldestUnackedAgeSeconds: number;
}

/** Cluster mode (docs/cluster.md): this broker's membership, read at scrape time. */
export interface ClusterStats {
  /** The etcd session is valid (registered, not lost or self-fenced). */
  sessionUp: boolean;
  /** This broker is the controller. */
  controllerActive: boolean;
  /** Brokers registered in etcd now, as this broker's directory sees them. */
  liveBrokers: number;
  /** Partition leader changes this broker wrote while controller, since start. */
  leaderElections: number;
  /**
   * While this broker is the controller: partitions without a live leader (offline, or led by
   * a broker whose lease is gone), as `sluice cluster status` counts them; 0 on the others,
   * so the sum over the cluster counts each partition once (Kafka's OfflinePartitionsCount).
   */
  offlinePartitions: number;
  /** This broker leads without a trusted etcd session because every other broker granted its failsafe check. */
  failsafeActive?: boolean;
  /**
   * The controller's automatic preferred-leader check (docs/cluster.md): on the controller,
   * partitions not led by their preferred (first) replica now, 0 elsewhere; and the checks
   * run here and the leaderships they moved back, since start. Absent: 0.
   */
  preferredLeaderImbalance?: number;
  leaderImbalanceChecks?: number;
  autoLeaderElections?: number;
  /** The reassignment throttle (reassignmentThrottleBytesPerSec) on this broker's fetches; absent when it is 0 (unlimited). */
  throttle?: { bytes: number; waitedMs: number };
}

/** What a byte-rate quota meters: the `kind` label of the sluice_quota_* families. */
export type QuotaKind = 'produce' | 'fetch';

/** Why a connection was refused: the `reason` label of sluice_connections_refused_total. */
export const CONNECTION_REFUSALS = ['max_connections', 'max_connections_per_ip', 'creation_rate'] as const;
export type ConnectionRefusal = (typeof CONNECTION_REFUSALS)[number];

/** The broker's internal state logs, as the `log` label of sluice_state_records_skipped_total. */
export type StateLogName = 'offsets' | 'share_state';

export interface BrokerMetrics {
  /** False for the no-op implementation: the /metrics route then declines the request. */
  readonly enabled: boolean;
  /** The Content-Type of `metricsText()`. */
  readonly contentType: string;

  // --- hot path: once per request / per partition in a request -----------------
  /** Records appended to `topic` (count from batch headers, not by decoding). */
  produced(topic: string, messages: number, bytes: number): void;
  /** Bytes (and records, when known from batch headers) returned to fetchers of `topic`. */
  fetched(topic: string, messages: number | undefined, bytes: number): void;
  /** One finished request: api name (e.g. 'Produce'), handling time, and the whole-request error name if it failed. */
  request(api: string, seconds: number, errorName?: string): void;
  /** One per-partition error inside an otherwise answered request. */
  partitionError(api: string, errorName: string): void;
  /** One fsync of a segment (or index) file and how long it took. */
  fsync(seconds: number): void;
  connectionOpened(): void;
  connectionClosed(): void;
  /** A login refused, a request refused before login, a login timed out, a client posing as a broker (docs/security.md). */
  authFailure(reason: 'unauthenticated_request' | 'bad_credentials' | 'timeout' | 'not_a_broker'): void;
  /**
   * A produce or fetch by an entity with a byte-rate quota (docs/security.md): its record
   * bytes and the throttle its answer carried (0: none). `entity` is `user:NAME` or
   * `client-id:NAME` for an entity with its own entry, `default` for every entity under the
   * default one: as many values as entries an admin made, plus one.
   */
  quotaRecorded(kind: QuotaKind, entity: string, bytes: number, throttleMs: number): void;
  /** A connection refused when it opened: a connection limit (docs/security.md). */
  connectionRefused(reason: ConnectionRefusal): void;
  /** A connection closed after connectionsMaxIdleMs without a request. */
  connectionIdleClosed(): void;
  /** Total bytes queued on sockets of slow clients, across connections. */
  setBufferedBytes(bytes: number): void;
  addBufferedBytes(delta: number): void;
  /** Fetched bytes reserved before reading and not yet queued on a socket, across connections. */
  addReservedBytes(delta: number): void;

  // --- stored data lost or refused (rare: one call per event) ---------------------
  /** A read refused a stored batch of `topic` that failed its check (CORRUPT_MESSAGE). */
  corruptRead(topic: string): void;
  /** Recovery dropped `bytes` bytes holding `records` records of `topic` (a torn or damaged tail, or a segment after it). */
  recoveryDropped(topic: string, bytes: number, records: number): void;

  // --- group coordinator / queue mode events -------------------------------------
  rebalance(group: string): void;
  redelivered(group: string, n: number): void;
  deadLettered(group: string, n: number): void;
  /** Records whose dead-letter copy could not be written (they stay unarchived and are retried). */
  deadLetterFailed(group: string, n: number): void;
  /** A share group's rate or concurrency limit cut an acquire short (queue/group-limits.ts). */
  shareLimited(group: string, limit: 'rate' | 'concurrency'): void;
  /** A state log record replay skipped at start-up (it did not decode or apply; see docs/storage.md, quarantine). */
  stateRecordSkipped(log: StateLogName): void;

  // --- cluster mode: replication (rare: one call per ISR change) -------------------
  /** A partition this broker leads removed lagging followers from its ISR (written to etcd). */
  isrShrunk(): void;
  /** A caught-up follower rejoined the ISR of a partition this broker leads. */
  isrExpanded(): void;

  // --- cluster mode: the follower side (once per fetch answer and followed partition) --
  /** Records a partition followed here lacks: the leader's high watermark minus the local log end, after the leader's last answer. */
  followerLag(topic: string, partition: number, messages: number): void;
  /** The partition is no longer followed here: its lag series goes. */
  followerLagRemoved(topic: string, partition: number): void;
  /** A replica fetch (a whole request, or one partition of it) failed with `code`, an error code name. */
  replicaFetchError(code: string): void;

  // --- scrape-time collectors: each callback runs once per scrape ------------------
  collectPartitions(fn: () => Iterable<PartitionStats>): void;
  collectGroups(fn: () => Iterable<GroupStats>): void;
  collectQueues(fn: () => Iterable<QueueStats>): void;
  /** Requests parked in a long poll now, as [kind, count] (broker/purgatory.ts). */
  collectDelayedOperations(fn: () => Iterable<readonly [string, number]>): void;
  /** Cluster mode only: membership gauges and the controller's election count (no series on a single broker). */
  collectCluster(fn: () => ClusterStats | undefined): void;
  /** Cluster mode: under-replicated partitions and follower lag, of the partitions this broker leads. */
  collectReplication(fn: () => ReplicationStats): void;
  /** The LRU of open segment files (storage/open-file-cache.ts): open now, evictions, EMFILE retries, capacity. */
  collectOpenFiles(fn: () => OpenFileStats): void;

  /** The whole exposition (Prometheus text format 0.0.4). */
  metricsText(): Promise<string>;
}

export interface BrokerMetricsOptions {
  /** False gives the no-op implementation. Default true. */
  enabled?: boolean;
  /** Add prom-client's default process/Node metrics (event loop lag, heap, GC). Default true. */
  collectDefault?: boolean;
  /** Per-series limit on groups reported by collectGroups (the rest still count in sluice_groups). Default 1000. */
  maxGroups?: number;
}

export function createBrokerMetrics(opts: BrokerMetricsOptions = {}): BrokerMetrics {
  if (opts.enabled === false) return new NoopBrokerMetrics();
  return new PromBrokerMetrics(opts);
}
