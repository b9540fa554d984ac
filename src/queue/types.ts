/**
 * Shapes shared by the queue-mode (share group) files. Nothing here does I/O.
 *
 * Vocabulary (after Kafka's KIP-932): a *share group* reads topics as a queue; each
 * (group, topic, partition) is a *share-partition* with a window of tracked records from
 * the *start offset* (everything below is settled) to the *end offset* (next offset not
 * yet taken into the window). docs/queue.md is the prose.
 */

/** Injected time source so locks, backoff and liveness are testable without waiting. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Per-group settings. Every field has a default (DEFAULT_SHARE_GROUP_CONFIG). */
export interface ShareGroupConfig {
  /** How long an acquired record stays locked to its worker before it is handed out again. */
  visibilityTimeoutMs: number;
  /** Delivery attempts (acquisitions) after which a record that is not acked is dead-lettered. */
  maxDeliveries: number;
  /** Backoff before a failed record is available again, first attempt; doubles per attempt. */
  retryBackoffMs: number;
  /** Cap of the exponential backoff. */
  retryBackoffMaxMs: number;
  /** Where dead records go; null = `<topic>.dlq`. */
  deadLetterTopic: string | null;
  /** A worker that neither acquires nor heartbeats for this long is gone; its records are released. */
  sessionTimeoutMs: number;
  /** Where a share-partition starts the first time the group reads it. */
  startFrom: 'earliest' | 'latest';
  /** Most records tracked per share-partition window (bounds memory: 31 bytes each, share-partition.ts). */
  maxWindow: number;
  /** Most records handed out per second across all workers of the group (group-limits.ts); 0 = no limit. */
  rateLimit: number;
  /** Most records held (in flight) at once by the whole group; 0 = no limit. */
  maxInFlight: number;
}

export const DEFAULT_SHARE_GROUP_CONFIG: Readonly<ShareGroupConfig> = Object.freeze({
  visibilityTimeoutMs: 30_000,
  maxDeliveries: 5,
  retryBackoffMs: 1_000,
  retryBackoffMaxMs: 60_000,
  deadLetterTopic: null,
  sessionTimeoutMs: 45_000,
  startFrom: 'earliest',
  maxWindow: 10_000,
  rateLimit: 0,
  maxInFlight: 0,
});

/** Record states. Numbers are stored in a Uint8Array and in the state log: never renumber. */
export const RecordState = {
  AVAILABLE: 0,
  ACQUIRED: 1,
  ACKED: 2,
  ARCHIVED: 3,
  /** Settled by an admin's cancel (ShareCancel): never delivered again, not dead-lettered. */
  CANCELLED: 4,
} as const;
export type RecordStateValue = (typeof RecordState)[keyof typeof RecordState];

/** A run of acquired offsets handed to a worker; one delivery count for the whole run. */
export interface AcquiredRange {
  firstOffset: number;
  lastOffset: number;
  /** Acquisitions of these records so far, this one included (1 = first delivery). */
  deliveryCount: number;
}

/**
 * How a worker gives a record back. `failed`: it tried and failed (or gave up): the attempt
 * counts toward maxDeliveries. `unstarted`: it never began the job (prefetched, then closed
 * or stopped): the acquisition does not count.
 */
export type ReleaseKind = 'failed' | 'unstarted';

/** Why a record was dead-lettered. `rejected` is a worker's verdict; the others are the limit. */
export type DeadLetterCause = 'rejected' | 'max-deliveries';

/** An instruction to the broker: copy this record to the dead-letter topic. */
export interface DeadLetter {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  deliveryCount: number;
  cause: DeadLetterCause;
  /** Last reason a worker gave (release/reject), or what ended the last attempt ('lock expired', 'worker gone'). */
  reason: string;
  /** Topic to append to (already resolved from the group config). */
  deadLetterTopic: string;
}

/**
 * A run of offsets in one persisted state: what the state log writes. Acquired records are
 * persisted as AVAILABLE with their delivery count, because a lock does not survive a
 * restart.
 */
export interface StateRun {
  first: number;
  last: number;
  state: RecordStateValue;
  deliveryCount: number;
}

/** A state change of one share-partition, to be appended to the state log. */
export interface PartitionUpdate {
  group: string;
  topic: string;
  partition: number;
  startOffset: number;
  runs: StateRun[];
  /** Totals after this change (absolute, so replaying an update twice does not double them). */
  acked: number;
  deadLettered: number;
  redeliveries: number;
  /** Records cancelled by an admin (ShareCancel). */
  cancelled: number;
  /**
   * Records of the runs that are held for their dead-letter copy now (their runs say
   * AVAILABLE, what a broker that predates this field reads); absent when none.
   */
  deadLettering?: HeldDeadLetter[];
  /** The runs are the whole window and replace what the log held (after a reset). */
  replace?: boolean;
}

/**
 * A record held by the dead-letter writer, as the state log keeps it: rejected or out of
 * attempts, its copy not yet durable. Its delivery count is its run's. A coordinator that
 * loads it resumes the copy instead of handing the record out (docs/queue.md, "A record is
 * archived only after its copy is written").
 */
export interface HeldDeadLetter {
  offset: number;
  cause: DeadLetterCause;
  /** The reason the copy's `sluice.dlq.reason` header carries (at most MAX_REASON_LENGTH). */
  reason: string;
}

export { parseTpKey, tpKey } from '../protocol/topic-partition.js';

/** Backoff after attempt `deliveryCount` failed: min(max, initial * 2^(deliveryCount-1)). */
export function backoffMs(cfg: Pick<ShareGroupConfig, 'retryBackoffMs' | 'retryBackoffMaxMs'>, deliveryCount: number): number {
  if (cfg.retryBackoffMs <= 0) return 0;
  const exp = Math.min(Math.max(deliveryCount - 1, 0), 52);
  return Math.min(cfg.retryBackoffMaxMs, cfg.retryBackoffMs * 2 ** exp);
}
