/**
 * Request and response shapes of every api. A frame is one msgpackr-encoded map:
 *   request   { id, api, version, ...body }
 *   response  { id, error?, ...body }        (error set only when the whole request failed)
 * `id` is chosen by the client (u32, unique among its in-flight requests) and echoed, so
 * many requests can be in flight on one connection and answered out of order. Record
 * batches are binary fields (msgpack bin), never arrays of objects. Per-partition outcomes
 * carry their own `error` so one bad partition does not fail the rest.
 *
 * Api numbers follow Kafka's api keys where one exists. docs/protocol.md is the prose.
 */
import type { WireError } from './errors.js';

export const Api = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  CreateTopics: 19,
  DeleteTopics: 20,
  DescribeTopics: 75,
  CreatePartitions: 37,
  OffsetCommit: 8,
  OffsetFetch: 9,
  DescribeGroups: 15,
  ListGroups: 16,
  DeleteGroups: 42,
  OffsetDelete: 47,
  ConsumerGroupHeartbeat: 68,
  ConsumerGroupDescribe: 69,
  // Queue mode (share groups). Sluice-only numbers: the shapes differ from Kafka's
  // ShareFetch (78) / ShareAcknowledge (79), so reusing those keys would imply a compatibility
  // Sluice does not have. docs/queue.md is the prose.
  ShareAcquire: 1100,
  ShareAck: 1101,
  ShareDescribe: 1102,
  ShareLeave: 1103,
  ShareDelete: 1104,
  ShareReset: 1105,
  // Sluice-only admin: Kafka has no api that checks stored batches.
  VerifyTopic: 1200,
} as const;
export type ApiKey = (typeof Api)[keyof typeof Api];

export const API_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Api).map(([k, v]) => [v, k]));

export interface RequestHeader {
  id: number;
  api: number;
  version: number;
}

export interface ResponseHeader {
  id: number;
  error?: WireError;
}

/** Per-topic settings a client may override; names as in storage LogConfig. */
export interface TopicConfig {
  segmentBytes?: number;
  segmentMs?: number;
  indexIntervalBytes?: number;
  retentionMs?: number;
  retentionBytes?: number;
  flushMessages?: number;
  flushMs?: number;
}

// --- Produce (0) ---------------------------------------------------------------
/** acks: 0 = no response at all, 1 = appended to the log, -1 = appended and fsynced ("all"). */
export interface ProduceRequest extends RequestHeader {
  acks: 0 | 1 | -1;
  partitions: { topic: string; partition: number; records: Uint8Array }[];
}
export interface ProducePartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  baseOffset?: number;
  logAppendTime?: number;
}
export interface ProduceResponse extends ResponseHeader {
  partitions: ProducePartitionResult[];
}

// --- Fetch (1) -----------------------------------------------------------------
/**
 * Long poll: answered as soon as at least `minBytes` are available across the partitions,
 * or when `maxWaitMs` passes, whichever is first. `maxBytes` caps the whole response; each
 * partition's own `maxBytes` caps that partition (the first batch is always returned whole).
 */
export interface FetchRequest extends RequestHeader {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  partitions: { topic: string; partition: number; offset: number; maxBytes: number }[];
}
export interface FetchPartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  highWatermark: number;
  logStartOffset: number;
  /** Stored batches exactly as on disk; may be empty. */
  records: Uint8Array;
}
export interface FetchResponse extends ResponseHeader {
  partitions: FetchPartitionResult[];
}

// --- ListOffsets (2) -------------------------------------------------------------
export const EARLIEST = -2;
export const LATEST = -1;
/** timestamp: EARLIEST (-2), LATEST (-1) or ms since epoch (first offset with timestamp >= it). */
export interface ListOffsetsRequest extends RequestHeader {
  partitions: { topic: string; partition: number; timestamp: number }[];
}
export interface ListOffsetsResponse extends ResponseHeader {
  /** offset is the log end offset when no record is at or after the timestamp. */
  partitions: { topic: string; partition: number; error?: WireError; offset: number }[];
}

// --- Metadata (3) ----------------------------------------------------------------
/** topics omitted: every topic. */
export interface MetadataRequest extends RequestHeader {
  topics?: string[];
}
export interface TopicMetadata {
  name: string;
  error?: WireError;
  partitions: number;
  config: TopicConfig;
}
export interface MetadataResponse extends ResponseHeader {
  brokerVersion: string;
  topics: TopicMetadata[];
}

// --- CreateTopics (19) / DeleteTopics (20) / CreatePartitions (37) ----------------
export interface CreateTopicsRequest extends RequestHeader {
  topics: { name: string; partitions: number; config?: TopicConfig }[];
}
export interface TopicResult {
  name: string;
  error?: WireError;
}
export interface CreateTopicsResponse extends ResponseHeader {
  topics: TopicResult[];
}
export interface DeleteTopicsRequest extends RequestHeader {
  topics: string[];
}
export interface DeleteTopicsResponse extends ResponseHeader {
  topics: TopicResult[];
}
export interface CreatePartitionsRequest extends RequestHeader {
  topics: { name: string; totalPartitions: number }[];
}
export interface CreatePartitionsResponse extends ResponseHeader {
  topics: TopicResult[];
}

// --- DescribeTopics (75) ---------------------------------------------------------
export interface DescribeTopicsRequest extends RequestHeader {
  topics: string[];
}
export interface PartitionDescription {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  sizeBytes: number;
  segmentCount: number;
}
export interface DescribeTopicsResponse extends ResponseHeader {
  topics: { name: string; error?: WireError; config: TopicConfig; partitions: PartitionDescription[] }[];
}

// --- VerifyTopic (1200) ------------------------------------------------------------
/**
 * Checks every batch the broker stores for `topic` (all partitions, or those listed): CRC,
 * length, magic, record count, offset continuity (src/storage/verify.ts). One partition is
 * read at a time at disk speed, so a client asks per partition for big topics. Errors
 * (whole request): UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC; per partition:
 * UNKNOWN_TOPIC_OR_PARTITION, STORAGE_ERROR.
 */
export interface VerifyTopicRequest extends RequestHeader {
  topic: string;
  partitions?: number[];
}
export interface VerifyProblem {
  /** Base offset of the segment. */
  segment: number;
  /** Byte position in the segment's .log file. */
  position: number;
  /** Offset the bad batch should start at. */
  offset: number;
  reason: string;
}
export interface VerifyPartitionResult {
  partition: number;
  error?: WireError;
  segments: number;
  batches: number;
  records: number;
  bytes: number;
  /** The first 100 problems; problemCount counts all. */
  problems: VerifyProblem[];
  problemCount: number;
}
export interface VerifyTopicResponse extends ResponseHeader {
  topic: string;
  partitions: VerifyPartitionResult[];
}

// --- Consumer groups -------------------------------------------------------------
// Server-side assignment with incremental reconciliation, as in Kafka's KIP-848.
// docs/groups.md is the prose (epochs, reconciliation, states, offsets log, expiry).

/** A set of partitions on the wire: one entry per topic, partitions ascending. */
export interface TopicPartitionList {
  topic: string;
  partitions: number[];
}

// --- ConsumerGroupHeartbeat (68) ---------------------------------------------------
/**
 * memberEpoch: 0 joins (memberId '' lets the coordinator pick one; a known id restarts
 * that member), -1 leaves at once, otherwise the last epoch this member was given.
 * Optional fields left out mean "unchanged"; a join must carry subscribedTopics or
 * subscribedPattern (a JavaScript regex matched against whole topic names, never `__*`).
 * ownedPartitions: what the member holds now; a member told to give partitions up confirms
 * it by sending ownedPartitions without them. Errors (whole-request): FENCED_MEMBER_EPOCH,
 * UNKNOWN_MEMBER_ID (rejoin with epoch 0), INVALID_REQUEST, INVALID_REGULAR_EXPRESSION,
 * INVALID_GROUP_ID.
 */
export interface ConsumerGroupHeartbeatRequest extends RequestHeader {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  rebalanceTimeoutMs?: number;
  /** This member's session timeout, within the broker's group.min/maxSessionTimeoutMs (else INVALID_SESSION_TIMEOUT). */
  sessionTimeoutMs?: number;
  subscribedTopics?: string[];
  subscribedPattern?: string;
  ownedPartitions?: TopicPartitionList[];
}
export interface ConsumerGroupHeartbeatResponse extends ResponseHeader {
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** The partitions the member may own from now on (complete, not a delta). Absent after a leave. */
  assignment?: TopicPartitionList[];
}

// --- OffsetCommit (8) ----------------------------------------------------------------
/**
 * With memberId: it must be a current member and memberEpoch its current epoch (else
 * UNKNOWN_MEMBER_ID / STALE_MEMBER_EPOCH / FENCED_MEMBER_EPOCH for every partition).
 * Without memberId ("simple consumer"): allowed only while the group has no members.
 */
export interface OffsetCommitRequest extends RequestHeader {
  groupId: string;
  memberId?: string;
  memberEpoch?: number;
  partitions: { topic: string; partition: number; offset: number; metadata?: string }[];
}
export interface OffsetCommitResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; error?: WireError }[];
}

// --- OffsetFetch (9) -------------------------------------------------------------------
/** partitions omitted: every committed partition of the group. offset -1: nothing committed. */
export interface OffsetFetchRequest extends RequestHeader {
  groupId: string;
  partitions?: { topic: string; partition: number }[];
}
export interface OffsetFetchResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; offset: number; metadata: string; error?: WireError }[];
}

// --- OffsetDelete (47) -----------------------------------------------------------------
/** Refused per partition with GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes to the topic. */
export interface OffsetDeleteRequest extends RequestHeader {
  groupId: string;
  partitions: { topic: string; partition: number }[];
}
export interface OffsetDeleteResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; error?: WireError }[];
}

// --- ListGroups (16) -------------------------------------------------------------------
export type GroupStateName = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable' | 'Dead';
/** states omitted or empty: every group. */
export interface ListGroupsRequest extends RequestHeader {
  states?: GroupStateName[];
}
export interface ListGroupsResponse extends ResponseHeader {
  groups: { groupId: string; state: GroupStateName; groupEpoch: number; members: number }[];
}

// --- DescribeGroups (15) / ConsumerGroupDescribe (69, same shapes) -----------------------
export interface DescribeGroupsRequest extends RequestHeader {
  groupIds: string[];
  /** Also return committed offsets. Default true. */
  includeOffsets?: boolean;
}
export interface GroupMemberDescription {
  memberId: string;
  memberEpoch: number;
  /** stable | unrevoked (must give partitions up) | unreleased (waits for partitions others hold) */
  state: string;
  subscribedTopics?: string[];
  subscribedPattern?: string;
  assignment: TopicPartitionList[];
  revoking: TopicPartitionList[];
  targetAssignment: TopicPartitionList[];
}
export interface GroupDescription {
  groupId: string;
  /** GROUP_ID_NOT_FOUND with state Dead for a group the coordinator does not know. */
  error?: WireError;
  state: GroupStateName;
  groupEpoch: number;
  targetEpoch: number;
  assignor: string;
  members: GroupMemberDescription[];
  /** logEndOffset: the partition's high watermark now; lag = logEndOffset - offset (>= 0; -1 both when the partition is gone). */
  offsets?: { topic: string; partition: number; offset: number; metadata: string; commitTimestamp: number; logEndOffset?: number; lag?: number }[];
}
export interface DescribeGroupsResponse extends ResponseHeader {
  groups: GroupDescription[];
}
export type ConsumerGroupDescribeRequest = DescribeGroupsRequest;
export type ConsumerGroupDescribeResponse = DescribeGroupsResponse;

// --- DeleteGroups (42) -----------------------------------------------------------------
/** Per group: NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND when unknown. */
export interface DeleteGroupsRequest extends RequestHeader {
  groupIds: string[];
}
export interface DeleteGroupsResponse extends ResponseHeader {
  groups: { groupId: string; error?: WireError }[];
}

// --- Queue mode: share groups (1100-1103) -----------------------------------------------
// Any number of workers read the same partitions; the broker locks each record to one
// worker at a time. docs/queue.md is the prose (states, timing, DLQ headers).

/** Group settings a worker may set when it creates the group (first acquire); ignored later. */
export interface ShareGroupSettings {
  visibilityTimeoutMs?: number;
  maxDeliveries?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  deadLetterTopic?: string | null;
  sessionTimeoutMs?: number;
  startFrom?: 'earliest' | 'latest';
}

// --- ShareAcquire (1100) -----------------------------------------------------------------
/**
 * Locks up to `maxRecords` records for the worker across the topics' partitions, long
 * polling up to `maxWaitMs` when none is available. Also the worker's heartbeat (send one
 * with maxRecords 0 to stay alive). Each partition result carries the stored batches that
 * cover the acquired offsets; the client must deliver only records inside `acquired`.
 */
export interface ShareAcquireRequest extends RequestHeader {
  groupId: string;
  workerId: string;
  topics: string[];
  maxRecords: number;
  maxWaitMs: number;
  settings?: ShareGroupSettings;
}
export interface ShareAcquiredRecords {
  firstOffset: number;
  lastOffset: number;
  deliveryCount: number;
}
export interface ShareAcquirePartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  acquired: ShareAcquiredRecords[];
  /** Lock deadline of these records, ms since epoch (broker clock). */
  lockDeadline: number;
  records: Uint8Array;
}
export interface ShareAcquireResponse extends ResponseHeader {
  partitions: ShareAcquirePartitionResult[];
}

// --- ShareAck (1101) -----------------------------------------------------------------------
/**
 * Settles records the worker holds. Per entry: ack (done), release (kind `failed`, the
 * default: the attempt failed or was abandoned, after delayMs or the group's exponential
 * backoff when omitted; kind `unstarted`: the worker never began it, so the acquisition does
 * not count toward maxDeliveries, after delayMs or at once), reject (poison: dead-letter
 * now), extend (push the lock deadline by extendMs, default visibilityTimeoutMs). An entry
 * is all or nothing; INVALID_RECORD_STATE when the worker does not hold one of its offsets.
 */
export interface ShareAckEntry {
  topic: string;
  partition: number;
  offsets: number[];
  type: 'ack' | 'release' | 'reject' | 'extend';
  /** release only; default 'failed'. */
  kind?: 'failed' | 'unstarted';
  delayMs?: number;
  extendMs?: number;
  reason?: string;
}
export interface ShareAckRequest extends RequestHeader {
  groupId: string;
  workerId: string;
  entries: ShareAckEntry[];
}
export interface ShareAckResponse extends ResponseHeader {
  /** One per entry, same order. lockDeadline is set for extend. */
  results: { error?: WireError; lockDeadline?: number }[];
}

// --- ShareDescribe (1102) ------------------------------------------------------------------
/** groupIds omitted: every share group. */
export interface ShareDescribeRequest extends RequestHeader {
  groupIds?: string[];
}
export interface ShareGroupDescriptionWire {
  groupId: string;
  error?: WireError;
  settings: Required<ShareGroupSettings>;
  /** acquired: records the worker acquired in total since it joined (how work was spread). */
  workers: { workerId: string; lastSeenMsAgo: number; inFlight: number; acquired?: number }[];
  available: number;
  delayed: number;
  inFlight: number;
  acked: number;
  deadLettered: number;
  redeliveries: number;
  oldestUnackedMs: number;
  partitions: { topic: string; partition: number; startOffset: number; endOffset: number; available: number; inFlight: number; backlog: number }[];
}
export interface ShareDescribeResponse extends ResponseHeader {
  groups: ShareGroupDescriptionWire[];
}

// --- ShareLeave (1103) ---------------------------------------------------------------------
/** The worker leaves; records it still holds are released (each counts as a failed attempt). */
export interface ShareLeaveRequest extends RequestHeader {
  groupId: string;
  workerId: string;
}
export type ShareLeaveResponse = ResponseHeader;

// --- ShareDelete (1104) --------------------------------------------------------------------
/**
 * Deletes a share group with no workers: its per-record state and config. Errors:
 * GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (workers still in it).
 */
export interface ShareDeleteRequest extends RequestHeader {
  groupId: string;
}
export type ShareDeleteResponse = ResponseHeader;

// --- ShareReset (1105) ---------------------------------------------------------------------
/** Where a reset moves a share group's start: offsets are clamped to what the log holds. */
export type ShareResetTo = 'earliest' | 'latest' | { offset: number } | { timestamp: number };
/**
 * Moves where a share group reads `topic` (partitions omitted: every partition). State of
 * the old window is forgotten: from the new start every record is delivered again, with
 * delivery count 1. Errors: NON_EMPTY_GROUP while workers are in the group (dry runs
 * excepted), UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC, INVALID_REQUEST.
 */
export interface ShareResetRequest extends RequestHeader {
  groupId: string;
  topic: string;
  partitions?: number[];
  to: ShareResetTo;
  /** Answer the plan without changing anything. */
  dryRun?: boolean;
}
export interface ShareResetResponse extends ResponseHeader {
  /** from: the group's start before (-1: it had not read the partition); to: after. */
  partitions: { topic: string; partition: number; from: number; to: number }[];
}
