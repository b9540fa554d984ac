/**
 * One definition per api: its name, key, the versions this broker speaks, the request
 * schema and the response type. Everything else comes from here:
 *   - parseRequest (parse-request.ts) checks a frame against `request` and refuses an
 *     unknown api or a version outside minVersion..maxVersion;
 *   - RequestOf<A> / ResponseOf<A> type the broker's handlers (broker/dispatch.ts) and the
 *     client's `Connection.request(api, body)`;
 *   - ApiVersions answers the version ranges; the fuzz test walks the table.
 *
 * Adding an api: give it a key in `Api` (api.ts), its response interface there, an entry
 * here, a handler file in src/broker/ and its line in dispatch.ts (the compiler refuses a
 * table or dispatch map that misses one). Changing a request's shape in a way an old
 * client or broker cannot read: raise maxVersion and branch on `req.version` in the
 * handler. docs/protocol.md has the prose of every api.
 *
 * Rules shared by every api (schema.ts): a missing or ill-typed field is INVALID_REQUEST
 * naming it; optional fields may be missing or null; extra fields are ignored. Whether a
 * topic or group exists, or a name is legal for a topic, is checked where that state is
 * (per topic or partition in the handler, or in the coordinator), not here.
 */
import {
  Api, EARLIEST, type ApiKey, type ProduceResponse, type FetchResponse, type ListOffsetsResponse, type MetadataResponse,
  type CreateTopicsResponse, type DeleteTopicsResponse, type CreatePartitionsResponse, type DescribeTopicsResponse,
  type VerifyTopicResponse, type ConsumerGroupHeartbeatResponse, type OffsetCommitResponse, type OffsetFetchResponse,
  type OffsetDeleteResponse, type FindCoordinatorResponse, type ListGroupsResponse, type DescribeGroupsResponse, type DeleteGroupsResponse,
  type ShareAcquireResponse, type ShareAckResponse, type ShareDescribeResponse, type ShareLeaveResponse,
  type ShareDeleteResponse, type ShareResetResponse, type ShareCancelResponse, type ShareProgressResponse, type ApiVersionsResponse, type OffsetsForLeaderEpochResponse, type InitProducerIdResponse, type FailsafeCheckResponse,
  type AlterPartitionReassignmentsResponse, type ListPartitionReassignmentsResponse, type ElectLeadersResponse, type TopicConfig, type ShareGroupSettings,
  type SaslHandshakeResponse, type SaslAuthenticateResponse, type DescribeUserScramCredentialsResponse, type AlterUserScramCredentialsResponse,
  type DescribeAclsResponse, type CreateAclsResponse, type DeleteAclsResponse,
} from './api.js';
import type { DescribeClientQuotasResponse, AlterClientQuotasResponse } from './api.js';
import { MAX_BYTE_RATE, MAX_QUOTA_ENTITY_CHARS, MIN_BYTE_RATE, QUOTA_NAMES, quotaEntityProblem } from './client-quota.js';
import { ACL_OPERATIONS, MAX_ACL_NAME_CHARS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES } from './acl-binding.js';
import { I32_MAX, MAX_ACK_OFFSETS, MAX_ACQUIRE_RECORDS, MAX_DESCRIBE_JOBS, MAX_ID_CHARS, MAX_JOB_PROGRESS_BYTES, MAX_OFFSET, MAX_PRODUCE_TIMEOUT_MS } from './limits.js';
import type { ShareAlterResponse } from './api.js';
import { MAX_SCRAM_ITERATIONS, MAX_USER_NAME_CHARS, MIN_SCRAM_ITERATIONS, SCRAM_SHA_256 } from './scram.js';
import {
  array, bool, bytes, int, map, oneOf, optional, refine, responds, str, struct, union, type Infer, type Responds, type Schema,
} from './schema.js';

export interface ApiDefinition<Req = unknown, Res = unknown> {
  readonly name: string;
  readonly key: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The body, without the header (id, api, version) parseRequest checks first. */
  readonly request: Schema<Req>;
  readonly response: Responds<Res>;
}

function def<Req, Res>(name: keyof typeof Api, request: Schema<Req>, response: Responds<Res>, versions = { min: 0, max: 0 }): ApiDefinition<Req, Res> {
  return { name, key: Api[name], minVersion: versions.min, maxVersion: versions.max, request, response };
}

// --- fields several apis share ---------------------------------------------------------
/** Topic names are only typed here: an illegal or unknown name fails that topic alone. */
const topic = str();
const partition = int({ min: 0, max: I32_MAX });
/** Cluster mode, topic changes: the node id of the broker that forwarded the request to the controller (never forwarded again). */
const forwardedBy = optional(int({ min: 0, max: I32_MAX }));
const offset = int({ min: 0, max: MAX_OFFSET });
const size = int({ min: 0, max: I32_MAX });
/**
 * Consumer-group ids are only typed here: an empty or overlong one is Kafka's
 * INVALID_GROUP_ID from the coordinator, which clients handle as such.
 */
const groupId = str();
/** Share group and worker ids name files of share state: non-empty and bounded, refused as the request's shape. */
const shareId = str({ min: 1, max: MAX_ID_CHARS });

/** A worker's holder token as ShareAck names it (ShareService.holderOf). */
const holderToken = str({ min: 1, max: MAX_ID_CHARS });
/** ShareAck's entries: settles of one worker, each all or nothing (docs/protocol.md). */
const shareAckEntries = array(refine(struct({
  topic,
  partition,
  offsets: array(offset, { max: MAX_ACK_OFFSETS }),
  type: oneOf(['ack', 'release', 'reject', 'extend']),
  kind: optional(oneOf(['failed', 'unstarted'])),
  delayMs: optional(size),
  extendMs: optional(int({ min: 1, max: I32_MAX })),
  reason: optional(str()),
}), (e) => (e.kind !== undefined && e.type !== 'release' ? ['kind', 'must be failed or unstarted, and only on a release'] : undefined)));
/** One worker's settles in a request that carries several (ShareAck `workers`, ShareAcquire `acks`). */
const shareAckWorker = struct({ workerId: shareId, holder: optional(holderToken), entries: shareAckEntries });
/** Offsets named by settles, for the one bound per request (MAX_ACK_OFFSETS). */
function offsetCount(units: readonly { entries: readonly { offsets: readonly unknown[] }[] }[]): number {
  let total = 0;
  for (const u of units) for (const e of u.entries) total += e.offsets.length;
  return total;
}
const partitionRef = struct({ topic, partition });
/** A leader epoch as a request names it: -1 means "unknown, do not check". */
const leaderEpoch = int({ min: -1, max: I32_MAX });
/** A set of partitions: one entry per topic. */
const topicPartitions = struct({ topic, partitions: array(partition) });
const GROUP_STATES = ['Empty', 'Assigning', 'Reconciling', 'Stable', 'Dead'] as const;
/** A user name is only bounded here; the store's rule (protocol/scram.ts userNameProblem) fails that user alone. */
const userName = str({ min: 1, max: MAX_USER_NAME_CHARS });
/** Longest SCRAM message accepted: the longest real one (a 255-character name, escaped) is under 1 KiB. */
const MAX_SASL_MESSAGE_BYTES = 4096;
/** An ACL binding (acl-binding.ts): its fields' shapes; whether they fit together (a cluster binding has no name) is the store's check, per binding. */
const aclName = str({ max: MAX_ACL_NAME_CHARS });
const aclBinding = struct({
  principal: str({ min: 1, max: MAX_ACL_NAME_CHARS }), resourceType: oneOf(RESOURCE_TYPES), resourceName: aclName,
  patternType: oneOf(PATTERN_TYPES), operation: oneOf(ACL_OPERATIONS), permission: oneOf(PERMISSIONS),
});
const describeGroups = struct({ groupIds: array(groupId), includeOffsets: optional(bool()) });

export const API_TABLE = {
  // acks: 0 = no response at all, 1 = appended to the log, -1 = appended and fsynced ("all"),
  // and in cluster mode held by every in-sync replica. timeoutMs: how long an acks=all produce
  // waits for the in-sync replicas (cluster mode; default DEFAULT_PRODUCE_TIMEOUT_MS).
  [Api.Produce]: def('Produce', struct({
    acks: oneOf([0, 1, -1], { code: 'INVALID_REQUIRED_ACKS' }),
    timeoutMs: optional(int({ min: 0, max: MAX_PRODUCE_TIMEOUT_MS })),
    partitions: array(struct({ topic, partition, records: bytes() })),
  }), responds<ProduceResponse>()),

  // Long poll: answered once `minBytes` are available across the partitions or `maxWaitMs`
  // passes. `maxBytes` caps the response; a partition's own `maxBytes` caps it (the first
  // batch always comes whole).
  // replicaId: set by a follower broker fetching for its replica (cluster mode): it reads up to
  // the log end and tells the leader how far the follower has got; consumers read up to the
  // high watermark. currentLeaderEpoch: the epoch the sender believes current; a stale one is
  // FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (-1 or absent: not checked).
  [Api.Fetch]: def('Fetch', struct({
    maxWaitMs: size, minBytes: size, maxBytes: size,
    replicaId: optional(int({ min: 0, max: I32_MAX })),
    partitions: array(struct({ topic, partition, offset, maxBytes: size, currentLeaderEpoch: optional(leaderEpoch) })),
  }), responds<FetchResponse>()),

  // timestamp: EARLIEST (-2), LATEST (-1) or ms since epoch (first offset with timestamp >= it).
  [Api.ListOffsets]: def('ListOffsets', struct({
    partitions: array(struct({ topic, partition, timestamp: int({ min: EARLIEST, max: MAX_OFFSET }) })),
  }), responds<ListOffsetsResponse>()),

  // topics omitted: every topic.
  [Api.Metadata]: def('Metadata', struct({ topics: optional(array(topic)) }), responds<MetadataResponse>()),

  // partitions 0 or negative, and config values, fail per topic (INVALID_PARTITIONS, INVALID_CONFIG).
  [Api.CreateTopics]: def('CreateTopics', struct({
    topics: array(struct({
      name: topic,
      partitions: int({ min: -I32_MAX, max: I32_MAX }),
      config: optional(map<TopicConfig>()),
      // Cluster mode: replicas per partition (default min(3, live brokers)); outside 1..live
      // brokers fails the topic with INVALID_REPLICATION_FACTOR. A single broker accepts only 1.
      replicationFactor: optional(int({ min: -I32_MAX, max: I32_MAX })),
    })),
    forwardedBy,
  }), responds<CreateTopicsResponse>()),

  [Api.DeleteTopics]: def('DeleteTopics', struct({ topics: array(topic), forwardedBy }), responds<DeleteTopicsResponse>()),

  [Api.CreatePartitions]: def('CreatePartitions', struct({
    topics: array(struct({ name: topic, totalPartitions: int({ min: -I32_MAX, max: I32_MAX }) })),
    forwardedBy,
  }), responds<CreatePartitionsResponse>()),

  [Api.DescribeTopics]: def('DescribeTopics', struct({ topics: array(topic) }), responds<DescribeTopicsResponse>()),

  // Checks every stored batch of `topic` (all partitions, or those listed); see VerifyTopicResponse.
  [Api.VerifyTopic]: def('VerifyTopic', struct({ topic, partitions: optional(array(partition)) }), responds<VerifyTopicResponse>()),

  // memberEpoch: 0 joins (memberId '' lets the coordinator pick one), -1 leaves, otherwise
  // the last epoch this member was given. Optional fields left out mean "unchanged"; a join
  // must carry subscribedTopics or subscribedPattern (a JavaScript regex matched against
  // whole topic names, never `__*`). ownedPartitions: what the member holds now.
  // sessionTimeoutMs must also lie within group.min/maxSessionTimeoutMs (INVALID_SESSION_TIMEOUT).
  // docs/groups.md is the prose.
  [Api.ConsumerGroupHeartbeat]: def('ConsumerGroupHeartbeat', struct({
    groupId,
    memberId: str(),
    memberEpoch: int({ min: -1, max: I32_MAX }),
    rebalanceTimeoutMs: optional(int({ min: 1, max: I32_MAX })),
    sessionTimeoutMs: optional(int({ min: 1, max: I32_MAX })),
    // Names, not yet topics: an empty one can never match, so the subscription is refused.
    subscribedTopics: optional(array(str({ min: 1 }))),
    subscribedPattern: optional(str()),
    ownedPartitions: optional(array(topicPartitions)),
  }), responds<ConsumerGroupHeartbeatResponse>()),

  // With memberId: a current member at its current epoch. Without ("simple consumer"):
  // only while the group has no members.
  [Api.OffsetCommit]: def('OffsetCommit', struct({
    groupId,
    memberId: optional(str()),
    memberEpoch: optional(int({ min: -1, max: I32_MAX })),
    partitions: array(struct({ topic, partition, offset, metadata: optional(str()) })),
    // The member's commit sequence, higher for each later capture of its positions: the
    // coordinator never lets an older one overwrite a newer one (group/commit-order.ts).
    // Optional: older clients send none, and older brokers ignore it (a struct skips unknown fields).
    commitSeq: optional(int({ min: 0, max: MAX_OFFSET })),
    // A simple commit (no memberId, e.g. Admin.resetOffsets) is ordered by `commitSeq` among the
    // commits of the client that numbered it: this id, one per client (ignored with a memberId).
    committerId: optional(str({ min: 1, max: MAX_ID_CHARS })),
  }), responds<OffsetCommitResponse>()),

  // Which broker coordinates group `key` (any broker answers; docs/cluster.md "Coordinators").
  // keyType: 'group' (consumer groups, the default) or 'share' (share groups, queue mode).
  [Api.FindCoordinator]: def('FindCoordinator', struct({ key: groupId, keyType: optional(oneOf(['group', 'share'])) }), responds<FindCoordinatorResponse>()),

  // partitions omitted: every committed partition of the group.
  [Api.OffsetFetch]: def('OffsetFetch', struct({ groupId, partitions: optional(array(partitionRef)) }), responds<OffsetFetchResponse>()),

  [Api.OffsetDelete]: def('OffsetDelete', struct({ groupId, partitions: array(partitionRef) }), responds<OffsetDeleteResponse>()),

  // states omitted or empty: every group.
  [Api.ListGroups]: def('ListGroups', struct({ states: optional(array(oneOf(GROUP_STATES))) }), responds<ListGroupsResponse>()),

  // includeOffsets: also return committed offsets (default true).
  [Api.DescribeGroups]: def('DescribeGroups', describeGroups, responds<DescribeGroupsResponse>()),
  [Api.ConsumerGroupDescribe]: def('ConsumerGroupDescribe', describeGroups, responds<DescribeGroupsResponse>()),

  [Api.DeleteGroups]: def('DeleteGroups', struct({ groupIds: array(groupId) }), responds<DeleteGroupsResponse>()),

  // Locks up to maxRecords records for the worker, long polling up to maxWaitMs; also the
  // worker's heartbeat (maxRecords 0). settings apply when this acquire creates the group;
  // their values are checked by the share coordinator (INVALID_CONFIG naming the setting).
  // checkSettings (a worker's acquires until its first answer): on an existing group, settings
  // that differ from its own fail the request (INCONSISTENT_GROUP_PROTOCOL); a broker before
  // it ignores the field, and the group keeps its settings, as it always did.
  // acks: settles carried by the acquire (KIP-932's acknowledgements in ShareFetch), one
  // unit per worker on this connection, each as a ShareAck's worker entry; applied before the
  // acquisition, their outcome told once durable in `acked` of a later answer on this
  // connection, or pushed (`share-acks`) unless `later` (docs/protocol.md); the answer says
  // `acksTaken`. A broker before it ignores the field: the client then sends them as a ShareAck.
  [Api.ShareAcquire]: def('ShareAcquire', refine(struct({
    groupId: shareId,
    workerId: shareId,
    topics: array(str({ min: 1 }), { min: 1 }),
    maxRecords: int({ min: 0, max: MAX_ACQUIRE_RECORDS }),
    maxWaitMs: size,
    settings: optional(map<ShareGroupSettings>()),
    checkSettings: optional(bool()),
    acks: optional(struct({ seq: int({ min: 0, max: I32_MAX }), workers: array(shareAckWorker, { min: 1 }), later: optional(bool()) })),
  }), (req) => (req.acks && offsetCount(req.acks.workers) > MAX_ACK_OFFSETS
    ? ['acks', `may name at most ${MAX_ACK_OFFSETS} offsets in one ShareAcquire, got ${offsetCount(req.acks.workers)}`] : undefined)),
  responds<ShareAcquireResponse>()),

  // Settles records the worker holds, per entry all or nothing. kind (release only):
  // failed (default) or unstarted. holder: the token of the acquire answer the records came
  // in; when given and no longer the worker's, every entry fails (INVALID_RECORD_STATE).
  // docs/queue.md is the prose. workers: the entries of other workers of the group on this
  // connection, coalesced into one request (each answered in the response's `workers`, same
  // order; each with its own optional holder, checked for that worker alone); a broker
  // before it ignores the field and answers none of them, which the client takes as its cue
  // to send them on their own.
  [Api.ShareAck]: def('ShareAck', refine(struct({
    groupId: shareId,
    workerId: shareId,
    holder: optional(holderToken),
    entries: shareAckEntries,
    workers: optional(array(shareAckWorker)),
  }), (req) => {
    const total = offsetCount([req, ...(req.workers ?? [])]);
    return total > MAX_ACK_OFFSETS ? ['entries', `may name at most ${MAX_ACK_OFFSETS} offsets in one ShareAck, got ${total}`] : undefined;
  }), responds<ShareAckResponse>()),

  // groupIds omitted: every share group. jobs: also list up to this many held records per
  // group (describe --jobs); a broker before it ignores the field and lists none.
  [Api.ShareDescribe]: def('ShareDescribe', struct({ groupIds: optional(array(str())), jobs: optional(int({ min: 0, max: MAX_DESCRIBE_JOBS })) }), responds<ShareDescribeResponse>()),

  // The worker leaves; records it holds are released (each counts as a failed attempt).
  [Api.ShareLeave]: def('ShareLeave', struct({ groupId: shareId, workerId: shareId }), responds<ShareLeaveResponse>()),

  // Deletes a share group with no workers.
  [Api.ShareDelete]: def('ShareDelete', struct({ groupId: shareId }), responds<ShareDeleteResponse>()),

  // Moves where a share group reads `topic` (partitions omitted: all; listed: distinct, so
  // `from` in the answer means one thing). dryRun: answer the plan without changing anything.
  [Api.ShareReset]: def('ShareReset', struct({
    groupId: shareId,
    topic,
    partitions: optional(refine(array(partition, { min: 1 }), (ps) => (new Set(ps).size !== ps.length ? ['', 'must not repeat a partition'] : undefined))),
    to: union([
      oneOf(['earliest', 'latest']),
      struct({ offset }, { exact: true }),
      struct({ timestamp: int({ min: 0, max: MAX_OFFSET }) }, { exact: true }),
    ], "must be 'earliest', 'latest', {offset} or {timestamp}"),
    dryRun: optional(bool()),
  }), responds<ShareResetResponse>()),

  // The version range of every api this broker speaks, so a client can pick versions both know.
  [Api.ApiVersions]: def('ApiVersions', struct({}), responds<ApiVersionsResponse>()),

  // Cluster mode: a follower's "where does my epoch `leaderEpoch` end on your log?" before it
  // fetches (follower truncation, KIP-279). currentLeaderEpoch is checked like Fetch's.
  [Api.OffsetsForLeaderEpoch]: def('OffsetsForLeaderEpoch', struct({
    replicaId: optional(int({ min: 0, max: I32_MAX })),
    partitions: array(struct({ topic, partition, currentLeaderEpoch: leaderEpoch, leaderEpoch: int({ min: 0, max: I32_MAX }) })),
  }), responds<OffsetsForLeaderEpochResponse>()),

  // Idempotent producer (KIP-98): a new producer id and epoch. No transactional id (yet).
  [Api.InitProducerId]: def('InitProducerId', struct({}), responds<InitProducerIdResponse>()),

  // Cluster mode, broker to broker: a leader whose etcd session is no longer trusted asks
  // whether it may go on acknowledging (failsafe mode, cluster/failsafe.ts). nodeId: the asker;
  // viewRevision: the etcd revision of the newest partition state it has applied.
  [Api.FailsafeCheck]: def('FailsafeCheck', struct({
    nodeId: int({ min: 0, max: I32_MAX }),
    viewRevision: int({ min: 0, max: MAX_OFFSET }),
  }), responds<FailsafeCheckResponse>()),

  // Cluster mode: move each partition's replicas to `replicas` (preferred leader first), run by
  // the controller (forwarded like CreateTopics). An empty, repeated or unknown id, or a
  // partition already being reassigned, fails that partition (INVALID_REPLICA_ASSIGNMENT,
  // REASSIGNMENT_IN_PROGRESS) naming what was wrong.
  // Version 1: `replicas` may be left out, which cancels the partition's running
  // reassignment (KIP-455's null replicas): NO_REASSIGNMENT_IN_PROGRESS when none runs.
  [Api.AlterPartitionReassignments]: def('AlterPartitionReassignments', struct({
    partitions: array(struct({ topic, partition, replicas: optional(array(int({ min: -I32_MAX, max: I32_MAX }))) })),
  }), responds<AlterPartitionReassignmentsResponse>(), { min: 0, max: 1 }),

  // Cluster mode: the running reassignments (of `topics`, or all), from the answering broker's view.
  [Api.ListPartitionReassignments]: def('ListPartitionReassignments', struct({ topics: optional(array(topic)) }), responds<ListPartitionReassignmentsResponse>()),

  // An admin cancels jobs of a share group on one topic: `offsets` of one `partition`, or every
  // record with `key` not yet settled (on `partition`, or all partitions). docs/queue.md, "Cancel".
  [Api.ShareCancel]: def('ShareCancel', refine(struct({
    groupId: shareId,
    topic,
    partition: optional(partition),
    offsets: optional(array(offset, { min: 1, max: MAX_ACK_OFFSETS })),
    key: optional(bytes()),
  }), (r) => {
    if ((r.offsets === undefined) === (r.key === undefined)) return ['offsets', 'give either offsets (with a partition) or a key'];
    if (r.offsets !== undefined && r.partition === undefined) return ['partition', 'is required with offsets'];
    return undefined;
  }), responds<ShareCancelResponse>()),

  // The holder of a record reports progress on it (JSON text, bounded by the broker setting
  // maxJobProgressBytes under this hard cap); the record's lock is extended as an extend is.
  [Api.ShareProgress]: def('ShareProgress', struct({
    groupId: shareId,
    workerId: shareId,
    topic,
    partition,
    offset,
    progress: str({ max: MAX_JOB_PROGRESS_BYTES }),
  }), responds<ShareProgressResponse>()),

  // Cluster mode: preferred-leader elections (Kafka's ElectLeaders, election type preferred)
  // on the controller (forwarded like CreateTopics). `partitions` omitted: every partition
  // whose leader is not its first replica. Per partition: ELECTION_NOT_NEEDED,
  // PREFERRED_LEADER_NOT_AVAILABLE (not alive, not in the ISR, being reassigned).
  [Api.ElectLeaders]: def('ElectLeaders', struct({ partitions: optional(array(struct({ topic, partition }))), forwardedBy }), responds<ElectLeadersResponse>()),

  // Changes settings of an existing share group (rate and concurrency limits, lock time, ...),
  // durably in the share state log before the answer; values are checked by the share
  // coordinator (INVALID_CONFIG naming the setting), an unknown group is GROUP_ID_NOT_FOUND.
  [Api.ShareAlter]: def('ShareAlter', struct({ groupId: shareId, settings: map<ShareGroupSettings>() }), responds<ShareAlterResponse>()),

  // Authentication (docs/security.md): the mechanism this connection will use (SCRAM-SHA-256),
  // then the SCRAM messages (protocol/scram.ts), each bounded: a SCRAM message is a few hundred bytes.
  [Api.SaslHandshake]: def('SaslHandshake', struct({ mechanism: str({ min: 1, max: 64 }) }), responds<SaslHandshakeResponse>()),
  [Api.SaslAuthenticate]: def('SaslAuthenticate', struct({ authBytes: refine(bytes(), (b) => b.length > MAX_SASL_MESSAGE_BYTES ? ['', `must be at most ${MAX_SASL_MESSAGE_BYTES} bytes`] : undefined) }), responds<SaslAuthenticateResponse>()),

  // Users (an admin's request, `superUsers`): names and iterations, of `users` or all.
  [Api.DescribeUserScramCredentials]: def('DescribeUserScramCredentials', struct({ users: optional(array(userName)) }), responds<DescribeUserScramCredentialsResponse>()),
  // Adds or replaces users' credentials (computed by the client: the password never reaches
  // the broker) and deletes users. Each one succeeds or fails alone.
  [Api.AlterUserScramCredentials]: def('AlterUserScramCredentials', struct({
    upsertions: array(struct({
      name: userName, mechanism: oneOf([SCRAM_SHA_256], { code: 'INVALID_REQUEST' }),
      iterations: int({ min: MIN_SCRAM_ITERATIONS, max: MAX_SCRAM_ITERATIONS }), salt: bytes(), storedKey: bytes(), serverKey: bytes(),
    })),
    deletions: array(struct({ name: userName })),
  }), responds<AlterUserScramCredentialsResponse>()),

  // Quotas (an admin's request, `superUsers`): every entry, or set and remove byte-rate
  // quotas of entities (docs/security.md, "Quotas and limits"). An entry left with no quota
  // is deleted. Each entry succeeds or fails alone; a bad entity fails the request.
  [Api.DescribeClientQuotas]: def('DescribeClientQuotas', struct({}), responds<DescribeClientQuotasResponse>()),
  [Api.AlterClientQuotas]: def('AlterClientQuotas', struct({
    entries: array(refine(struct({
      entityType: oneOf(['user', 'client-id', 'default']),
      name: optional(str({ min: 1, max: MAX_QUOTA_ENTITY_CHARS })),
      producerByteRate: optional(int({ min: MIN_BYTE_RATE, max: MAX_BYTE_RATE })),
      consumerByteRate: optional(int({ min: MIN_BYTE_RATE, max: MAX_BYTE_RATE })),
      remove: optional(array(oneOf(QUOTA_NAMES))),
    }), (e) => {
      const problem = quotaEntityProblem({ type: e.entityType, ...(e.name !== undefined && { name: e.name }) });
      if (problem !== undefined) return ['name', problem];
      for (const n of e.remove ?? []) if (e[n] !== undefined) return ['remove', `names ${n}, which the entry also sets`];
      return undefined;
    })),
  }), responds<AlterClientQuotasResponse>()),
  // ACLs (docs/security.md, "Authorization"). Describe: the bindings whose fields equal every
  // field the filter gives (none: all). Create and delete: exact bindings, each alone.
  // Managing them needs alter on the cluster, listing them describe (auth: scram).
  [Api.DescribeAcls]: def('DescribeAcls', struct({
    principal: optional(str({ min: 1, max: MAX_ACL_NAME_CHARS })), resourceType: optional(oneOf(RESOURCE_TYPES)), resourceName: optional(aclName),
    patternType: optional(oneOf(PATTERN_TYPES)), operation: optional(oneOf(ACL_OPERATIONS)), permission: optional(oneOf(PERMISSIONS)),
  }), responds<DescribeAclsResponse>()),
  [Api.CreateAcls]: def('CreateAcls', struct({ creations: array(aclBinding) }), responds<CreateAclsResponse>()),
  [Api.DeleteAcls]: def('DeleteAcls', struct({ deletions: array(aclBinding) }), responds<DeleteAclsResponse>()),
} as const satisfies { readonly [A in ApiKey]: ApiDefinition };

export type ApiTable = typeof API_TABLE;

/** What a client sends for api A (no header). */
export type BodyOf<A extends ApiKey> = Infer<ApiTable[A]['request']>;
/** What a handler receives for api A: the checked body and the header. */
export type RequestOf<A extends ApiKey> = { id: number; api: A; version: number } & BodyOf<A>;
/** What the broker answers for api A. */
export type ResponseOf<A extends ApiKey> = ApiTable[A]['response'] extends Responds<infer R> ? R : never;
/** Any checked request; `api` tells which. */
export type AnyRequest = { [A in ApiKey]: RequestOf<A> }[ApiKey];

export const API_DEFINITIONS: readonly ApiDefinition[] = Object.values(API_TABLE);

/**
 * Key -> definition as a plain array: the table's keys run to 1200 with gaps, which makes
 * V8 keep the object's elements in dictionary mode; looking up every request there cost
 * a third of the produce check (bench in the commit message).
 */
const BY_KEY: (ApiDefinition | undefined)[] = [];
for (const d of API_DEFINITIONS) BY_KEY[d.key] = d;

/** The definition of api `key`, or undefined for a number that is no api. */
export function apiDefinition(key: number): ApiDefinition | undefined {
  return key >= 0 && key < BY_KEY.length ? BY_KEY[key] : undefined;
}

/**
 * The name of api `key` ('Produce'), or undefined for a number that is no api: the one name
 * lookup for the broker's metric labels and logs and the client's error messages.
 */
export function apiName(key: number): string | undefined {
  return apiDefinition(key)?.name;
}

// The request types by name, as handlers and clients import them.
export type ProduceRequest = RequestOf<typeof Api.Produce>;
export type FetchRequest = RequestOf<typeof Api.Fetch>;
export type ListOffsetsRequest = RequestOf<typeof Api.ListOffsets>;
export type MetadataRequest = RequestOf<typeof Api.Metadata>;
export type CreateTopicsRequest = RequestOf<typeof Api.CreateTopics>;
export type DeleteTopicsRequest = RequestOf<typeof Api.DeleteTopics>;
export type CreatePartitionsRequest = RequestOf<typeof Api.CreatePartitions>;
export type InitProducerIdRequest = RequestOf<typeof Api.InitProducerId>;
export type FailsafeCheckRequest = RequestOf<typeof Api.FailsafeCheck>;
export type DescribeTopicsRequest = RequestOf<typeof Api.DescribeTopics>;
export type VerifyTopicRequest = RequestOf<typeof Api.VerifyTopic>;
export type ConsumerGroupHeartbeatRequest = RequestOf<typeof Api.ConsumerGroupHeartbeat>;
export type OffsetCommitRequest = RequestOf<typeof Api.OffsetCommit>;
export type OffsetFetchRequest = RequestOf<typeof Api.OffsetFetch>;
export type FindCoordinatorRequest = RequestOf<typeof Api.FindCoordinator>;
export type OffsetDeleteRequest = RequestOf<typeof Api.OffsetDelete>;
export type ListGroupsRequest = RequestOf<typeof Api.ListGroups>;
export type DescribeGroupsRequest = RequestOf<typeof Api.DescribeGroups>;
export type ConsumerGroupDescribeRequest = RequestOf<typeof Api.ConsumerGroupDescribe>;
export type DeleteGroupsRequest = RequestOf<typeof Api.DeleteGroups>;
export type ShareAcquireRequest = RequestOf<typeof Api.ShareAcquire>;
export type ShareAckRequest = RequestOf<typeof Api.ShareAck>;
export type ShareAckEntry = ShareAckRequest['entries'][number];
export type ShareDescribeRequest = RequestOf<typeof Api.ShareDescribe>;
export type ShareLeaveRequest = RequestOf<typeof Api.ShareLeave>;
export type ShareDeleteRequest = RequestOf<typeof Api.ShareDelete>;
export type ShareResetRequest = RequestOf<typeof Api.ShareReset>;
/** Where a reset moves a share group's start: offsets are clamped to what the log holds. */
export type ShareResetTo = ShareResetRequest['to'];
export type ShareCancelRequest = RequestOf<typeof Api.ShareCancel>;
export type ShareProgressRequest = RequestOf<typeof Api.ShareProgress>;
export type ApiVersionsRequest = RequestOf<typeof Api.ApiVersions>;
export type OffsetsForLeaderEpochRequest = RequestOf<typeof Api.OffsetsForLeaderEpoch>;
export type AlterPartitionReassignmentsRequest = RequestOf<typeof Api.AlterPartitionReassignments>;
export type ListPartitionReassignmentsRequest = RequestOf<typeof Api.ListPartitionReassignments>;
export type ShareAlterRequest = RequestOf<typeof Api.ShareAlter>;

export type SaslHandshakeRequest = RequestOf<typeof Api.SaslHandshake>;
export type SaslAuthenticateRequest = RequestOf<typeof Api.SaslAuthenticate>;
export type DescribeUserScramCredentialsRequest = RequestOf<typeof Api.DescribeUserScramCredentials>;
export type AlterUserScramCredentialsRequest = RequestOf<typeof Api.AlterUserScramCredentials>;
export type AlterClientQuotasRequest = RequestOf<typeof Api.AlterClientQuotas>;
export type DescribeAclsRequest = RequestOf<typeof Api.DescribeAcls>;
export type CreateAclsRequest = RequestOf<typeof Api.CreateAcls>;
export type DeleteAclsRequest = RequestOf<typeof Api.DeleteAcls>;
