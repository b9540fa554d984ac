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
 *
 * Request types are not written here: they come from the request schemas of the api table
 * (api-table.ts), which also checks them at run time, and are re-exported below under
 * their usual names. Responses are built by the broker and typed here.
 */
import type { WireError } from './errors.js';
import type { AclBinding } from './acl-binding.js';

export type {
  ProduceRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, CreateTopicsRequest, DeleteTopicsRequest,
  CreatePartitionsRequest, DescribeTopicsRequest, VerifyTopicRequest, ConsumerGroupHeartbeatRequest, OffsetCommitRequest,
  OffsetFetchRequest, OffsetDeleteRequest, FindCoordinatorRequest, ListGroupsRequest, DescribeGroupsRequest, ConsumerGroupDescribeRequest,
  DeleteGroupsRequest, ShareAcquireRequest, ShareAckRequest, ShareAckEntry, ShareDescribeRequest, ShareLeaveRequest,
  ShareDeleteRequest, ShareResetRequest, ShareResetTo, ApiVersionsRequest, OffsetsForLeaderEpochRequest, InitProducerIdRequest, FailsafeCheckRequest,
  AlterPartitionReassignmentsRequest, ListPartitionReassignmentsRequest, SaslHandshakeRequest, SaslAuthenticateRequest,
  DescribeUserScramCredentialsRequest, AlterUserScramCredentialsRequest, DescribeAclsRequest, CreateAclsRequest, DeleteAclsRequest, RequestOf, ResponseOf, BodyOf, AnyRequest,
} from './api-table.js';

export const Api = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  CreateTopics: 19,
  DeleteTopics: 20,
  DescribeTopics: 75,
  CreatePartitions: 37,
  ApiVersions: 18,
  OffsetsForLeaderEpoch: 23,
  InitProducerId: 22,
  AlterPartitionReassignments: 45,
  ListPartitionReassignments: 46,
  ElectLeaders: 43,
  FindCoordinator: 10,
  // Authentication (docs/security.md): Kafka's keys, Sluice's shapes (msgpack fields, not Kafka's bytes).
  SaslHandshake: 17,
  SaslAuthenticate: 36,
  DescribeUserScramCredentials: 50,
  AlterUserScramCredentials: 51,
  // Quotas (docs/security.md, "Quotas and limits"): Kafka's keys, Sluice's shapes.
  DescribeClientQuotas: 48,
  AlterClientQuotas: 49,
  // Authorization (docs/security.md): Kafka's keys, Sluice's shapes.
  DescribeAcls: 29,
  CreateAcls: 30,
  DeleteAcls: 31,
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
  // 1110+: job control (cancel, progress); numbered apart from 1106.. so parallel additions do not collide.
  ShareCancel: 1110,
  ShareProgress: 1111,
  // Numbered apart from 1106.. so parallel work adding share apis does not collide.
  ShareAlter: 1120,
  // Sluice-only admin: Kafka has no api that checks stored batches.
  VerifyTopic: 1200,
  // Sluice-only, broker to broker: failsafe mode while etcd is down (docs/cluster.md, "Fencing").
  FailsafeCheck: 1300,
} as const;
export type ApiKey = (typeof Api)[keyof typeof Api];

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
  /** Cluster mode: in-sync replicas an acks=all produce needs (<= the replication factor). */
  minInsyncReplicas?: number;
}

// --- Produce (0) ---------------------------------------------------------------
export interface ProducePartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  baseOffset?: number;
  logAppendTime?: number;
}
export interface ProduceResponse extends ResponseHeader {
  partitions: ProducePartitionResult[];
  /** Over its byte-rate quota (KIP-219): the client sends nothing more to this broker for this long. Absent: 0. */
  throttleTimeMs?: number;
}

// --- Fetch (1) -----------------------------------------------------------------
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
  /** Over its byte-rate quota (KIP-219): the client sends nothing more to this broker for this long. Absent: 0. */
  throttleTimeMs?: number;
}

// --- ListOffsets (2) -------------------------------------------------------------
export const EARLIEST = -2;
export const LATEST = -1;
export interface ListOffsetsResponse extends ResponseHeader {
  /** offset is the log end offset when no record is at or after the timestamp. */
  partitions: { topic: string; partition: number; error?: WireError; offset: number }[];
}

// --- Metadata (3) ----------------------------------------------------------------
export interface TopicMetadata {
  name: string;
  error?: WireError;
  partitions: number;
  config: TopicConfig;
  /** Cluster mode only: per partition, leader, replicas and ISR (index = partition number). */
  partitionInfo?: PartitionMetadata[];
}
export interface MetadataResponse extends ResponseHeader {
  brokerVersion: string;
  topics: TopicMetadata[];
  /**
   * Cluster mode only: the live brokers and the controller. Absent on a single broker, where
   * the broker answering leads every partition (clients keep using the connection they have).
   */
  brokers?: BrokerMetadata[];
  controllerId?: number;
}
/** A live broker: its node id and the URL it advertises (what clients and other brokers dial). */
export interface BrokerMetadata {
  nodeId: number;
  url: string;
}
/** Cluster mode: one partition's replication state (docs/cluster.md). leader -1: offline. */
export interface PartitionMetadata {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  /** A reassignment is running (api 45): replicas being added and being removed (`replicas` holds both). */
  addingReplicas?: number[];
  removingReplicas?: number[];
  error?: WireError;
}

// --- CreateTopics (19) / DeleteTopics (20) / CreatePartitions (37) ----------------
export interface TopicResult {
  name: string;
  error?: WireError;
}
export interface CreateTopicsResponse extends ResponseHeader {
  topics: TopicResult[];
}
export interface DeleteTopicsResponse extends ResponseHeader {
  topics: TopicResult[];
}
export interface CreatePartitionsResponse extends ResponseHeader {
  topics: TopicResult[];
}

// --- FindCoordinator (10) ---------------------------------------------------------
/**
 * Where a group's requests go. Cluster mode: the leader of the group's coordinator partition
 * (docs/cluster.md, "Coordinators"), by node id and advertised URL. A single broker answers
 * nodeId -1 and no url: it coordinates every group itself (stay on this connection).
 */
export interface FindCoordinatorResponse extends ResponseHeader {
  nodeId: number;
  url?: string;
}

// --- DescribeTopics (75) ---------------------------------------------------------
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
export interface ConsumerGroupHeartbeatResponse extends ResponseHeader {
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** The partitions the member may own from now on (complete, not a delta). Absent after a leave. */
  assignment?: TopicPartitionList[];
}

// --- OffsetCommit (8) ----------------------------------------------------------------
export interface OffsetCommitResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; error?: WireError }[];
}

// --- OffsetFetch (9) -------------------------------------------------------------------
export interface OffsetFetchResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; offset: number; metadata: string; error?: WireError }[];
}

// --- OffsetDelete (47) -----------------------------------------------------------------
export interface OffsetDeleteResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; error?: WireError }[];
}

// --- ListGroups (16) -------------------------------------------------------------------
export type GroupStateName = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable' | 'Dead';
export interface ListGroupsResponse extends ResponseHeader {
  groups: { groupId: string; state: GroupStateName; groupEpoch: number; members: number }[];
}

// --- DescribeGroups (15) / ConsumerGroupDescribe (69, same shapes) -----------------------
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
export type ConsumerGroupDescribeResponse = DescribeGroupsResponse;

// --- DeleteGroups (42) -----------------------------------------------------------------
export interface DeleteGroupsResponse extends ResponseHeader {
  groups: { groupId: string; error?: WireError }[];
}

// --- Queue mode: share groups (1100-1103) -----------------------------------------------
// Any number of workers read the same partitions; the broker locks each record to one
// worker at a time. docs/queue.md is the prose (states, timing, DLQ headers).

/**
 * Group settings a worker may set when it creates the group (first acquire; ignored later),
 * and an admin may change with ShareAlter.
 */
export interface ShareGroupSettings {
  visibilityTimeoutMs?: number;
  maxDeliveries?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  deadLetterTopic?: string | null;
  sessionTimeoutMs?: number;
  startFrom?: 'earliest' | 'latest';
  /** Most records handed out per second across all the group's workers; 0 = no limit. */
  rateLimit?: number;
  /** Most records held at once by all the group's workers together; 0 = no limit. */
  maxInFlight?: number;
  /**
   * Records tracked per share-partition past the group's position (docs/queue.md,
   * "Share-partition window"): how far the group reads past a job still in flight or waiting
   * for its delivery time. Lowered, a wider window stops growing until it shrinks below it.
   */
  maxWindow?: number;
}

// --- ShareAcquire (1100) -----------------------------------------------------------------
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
  /**
   * The worker's holder token at this coordinator (ShareService.holderOf): unchanged exactly
   * as long as the locks it got under it are still its own. Absent from brokers before it,
   * and when the group no longer knows the worker.
   */
  holder?: string;
  /**
   * The request's `acks` were taken: their outcome comes later (CarriedAcksResult), in
   * `acked` of a later ShareAcquire answer on this connection or in a `share-acks` push.
   * Absent from a broker that predates `acks` (it ignored them: the client sends them as a
   * ShareAck) and from a request that carried none.
   */
  acksTaken?: true;
  /**
   * Outcomes of settles carried by earlier acquires of this group on this connection that
   * became durable since the last answer (docs/protocol.md, "Settles carried by an acquire").
   */
  acked?: CarriedAcksResult[];
}

/**
 * The outcome of the settles one ShareAcquire carried (`acks`), told once their state change
 * is durable (fsynced; in cluster mode held by the in-sync replicas), or at once when none of
 * them changed anything. `seq` is the request's `acks.seq`; `workers` has one entry per unit
 * of `acks.workers`, same order, each a ShareAck's `results`. A failed state write fails
 * every entry with its error.
 */
export interface CarriedAcksResult {
  groupId: string;
  seq: number;
  workers: { results: ShareAckResult[] }[];
}

/**
 * Pushed (`id` 0) on a connection whose carried settles' outcomes no ShareAcquire answer
 * took within the broker's grace (the worker stopped asking), or before an acquire's error
 * answer once it took settles.
 */
export interface ShareAcksPush {
  id: 0;
  push: 'share-acks';
  acked: CarriedAcksResult[];
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
export interface ShareAckResponse extends ResponseHeader {
  /** One per entry, same order. lockDeadline is set for extend. */
  results: ShareAckResult[];
  /** One per entry of the request's `workers`, same order (absent from a broker that predates the field). */
  workers?: { results: ShareAckResult[] }[];
  /** Outcomes of settles earlier ShareAcquires carried on this connection (ShareAcquireResponse `acked`), all of them durable by now. */
  acked?: CarriedAcksResult[];
}

/** The answer to one ShareAck entry. */
export interface ShareAckResult { error?: WireError; lockDeadline?: number }

// --- ShareDescribe (1102) ------------------------------------------------------------------
export interface ShareGroupDescriptionWire {
  groupId: string;
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
  /** Records cancelled by an admin (ShareCancel), in total. Absent from brokers before cancel existed. */
  cancelled?: number;
  partitions: { topic: string; partition: number; startOffset: number; endOffset: number; available: number; inFlight: number; backlog: number }[];
  /** The records workers hold now, when the request asked for `jobs` (at most that many). */
  jobs?: ShareHeldJob[];
}
/** A job in flight: who holds it since when, its delivery count, lock deadline and last progress (ms since epoch, broker clock). */
export interface ShareHeldJob {
  topic: string;
  partition: number;
  offset: number;
  workerId: string;
  since: number;
  deliveryCount: number;
  lockDeadline: number;
  /** The JSON text the holder last reported (job.progress), and when; absent before its first report. */
  progress?: string;
  progressAt?: number;
}
/** A group that could not be described (GROUP_ID_NOT_FOUND): only its id and the error. */
export interface ShareGroupDescribeFailure {
  groupId: string;
  error: WireError;
}
export interface ShareDescribeResponse extends ResponseHeader {
  groups: (ShareGroupDescriptionWire | ShareGroupDescribeFailure)[];
}

// --- ShareLeave (1103) ---------------------------------------------------------------------
export type ShareLeaveResponse = ResponseHeader;

// --- ShareDelete (1104) --------------------------------------------------------------------
export type ShareDeleteResponse = ResponseHeader;

// --- ShareReset (1105) ---------------------------------------------------------------------
export interface ShareResetResponse extends ResponseHeader {
  /** from: the group's start before (-1: it had not read the partition); to: after. */
  partitions: { topic: string; partition: number; from: number; to: number }[];
}

// --- ShareCancel (1110) --------------------------------------------------------------------
/**
 * Per partition: the offsets cancelled (workerId: the worker that held it, which was told
 * with a `share-cancel` push) and those skipped with the reason (already settled, no such
 * record, too far ahead of the group). error: the partition could not be read here.
 */
export interface ShareCancelPartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  cancelled: { offset: number; workerId?: string }[];
  skipped: { offset: number; reason: string }[];
  /** By key: the offset the search stopped at (the group's window limit or the log end); later records were not looked at. */
  searchedTo?: number;
}
export interface ShareCancelResponse extends ResponseHeader {
  partitions: ShareCancelPartitionResult[];
}

// --- ShareProgress (1111) ------------------------------------------------------------------
/** The lock deadline after the extension the progress report is (ms since epoch, broker clock). */
export interface ShareProgressResponse extends ResponseHeader {
  lockDeadline: number;
}

// --- ShareAlter (1120) ---------------------------------------------------------------------
/** The group's settings after the change (all of them). */
export interface ShareAlterResponse extends ResponseHeader {
  settings: Required<ShareGroupSettings>;
}

// --- ApiVersions (18) -----------------------------------------------------------------
/** Every api this broker speaks and its version range (the api table's). */
export interface ApiVersionsResponse extends ResponseHeader {
  apis: { api: number; name: string; minVersion: number; maxVersion: number }[];
}

// --- OffsetsForLeaderEpoch (23) ----------------------------------------------------------
/**
 * A follower asks the leader where its latest leader epoch ends on the leader's log (KIP-101 /
 * KIP-279) and truncates its own log to there before fetching. leaderEpoch -1 / endOffset -1:
 * the leader knows no epoch at or below the one asked for.
 */
export interface EpochEndOffsetResult {
  topic: string;
  partition: number;
  error?: WireError;
  leaderEpoch: number;
  endOffset: number;
}
export interface OffsetsForLeaderEpochResponse extends ResponseHeader {
  partitions: EpochEndOffsetResult[];
}

// --- InitProducerId (22) -------------------------------------------------------------------
/**
 * A new producer id for an idempotent producer (KIP-98), never handed out before by this
 * broker (or, in cluster mode, by any broker of the cluster), and its epoch (0). The producer
 * stamps both, with a sequence number per partition, into every RecordBatch header it sends.
 */
export interface InitProducerIdResponse extends ResponseHeader {
  producerId: number;
  producerEpoch: number;
}

// --- FailsafeCheck (1300) ----------------------------------------------------------------
/** granted: the answerer promises not to start leading for the session TTL; otherwise `reason` says why not. */
export interface FailsafeCheckResponse extends ResponseHeader {
  granted: boolean;
  reason?: string;
}

// --- SaslHandshake (17) / SaslAuthenticate (36) ------------------------------------------
/**
 * The first frames of a connection when the broker's `auth` is scram (docs/security.md): the
 * handshake names the mechanism, then two SaslAuthenticate rounds carry the SCRAM messages
 * (protocol/scram.ts). A failure is a whole-request error (SASL_AUTHENTICATION_FAILED), after
 * which the broker closes the connection.
 */
export interface SaslHandshakeResponse extends ResponseHeader {
  mechanisms: string[];
}

export interface SaslAuthenticateResponse extends ResponseHeader {
  authBytes: Uint8Array;
}

// --- DescribeUserScramCredentials (50) / AlterUserScramCredentials (51) -----------------
/** Users and their SCRAM iterations (never a key or a salt). */
export interface DescribeUserScramCredentialsResponse extends ResponseHeader {
  users: { name: string; mechanism: string; iterations: number }[];
}

/** One result per upsertion and deletion, in that order. */
export interface AlterUserScramCredentialsResponse extends ResponseHeader {
  results: { user: string; error?: WireError }[];
}

// --- DescribeClientQuotas (48) / AlterClientQuotas (49) --------------------------------
/** Whom a quota is for: a user (auth scram), a client id (auth none), or everyone without their own entry. */
export type QuotaEntityType = 'user' | 'client-id' | 'default';
/** The byte-rate quotas of one entity, bytes per second per broker; an absent one is unlimited. */
export interface ClientQuotaValues {
  producerByteRate?: number;
  consumerByteRate?: number;
}
export interface ClientQuotaEntry extends ClientQuotaValues {
  entityType: QuotaEntityType;
  /** The user or client id; absent for 'default'. */
  name?: string;
}
export interface DescribeClientQuotasResponse extends ResponseHeader {
  entries: ClientQuotaEntry[];
}
/** One result per entry of the request, in order. */
export interface AlterClientQuotasResponse extends ResponseHeader {
  results: { entityType: QuotaEntityType; name?: string; error?: WireError }[];
}

// --- DescribeAcls (29) / CreateAcls (30) / DeleteAcls (31) ---------------------------
/** The bindings matching the request's filter, in a stable order. */
export interface DescribeAclsResponse extends ResponseHeader {
  acls: AclBinding[];
}

/** One result per binding of the request, in its order; each succeeds or fails alone. */
export interface CreateAclsResponse extends ResponseHeader {
  results: { error?: WireError }[];
}

/** One result per binding of the request, in its order: RESOURCE_NOT_FOUND when it was not there. */
export interface DeleteAclsResponse extends ResponseHeader {
  results: { error?: WireError }[];
}

// --- AlterPartitionReassignments (45) / ListPartitionReassignments (46) --------------
/** Cluster mode (docs/cluster.md, "Moving data between brokers"): one result per requested partition. */
export interface AlterPartitionReassignmentsResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; error?: WireError }[];
}
/** A running reassignment as this broker's view of etcd shows it. */
export interface PartitionReassignment {
  topic: string;
  partition: number;
  /** Target replicas followed by the ones being removed. */
  replicas: number[];
  addingReplicas: number[];
  removingReplicas: number[];
  leader: number;
  leaderEpoch: number;
  isr: number[];
}
export interface ListPartitionReassignmentsResponse extends ResponseHeader {
  reassignments: PartitionReassignment[];
}

// --- ElectLeaders (43) ------------------------------------------------------------------
/** Cluster mode, preferred-leader elections: one result per partition asked (or per partition elected, when none was named). */
export interface ElectLeadersResponse extends ResponseHeader {
  partitions: { topic: string; partition: number; /** The new leader (its preferred replica) when elected. */ leader?: number; error?: WireError }[];
}
