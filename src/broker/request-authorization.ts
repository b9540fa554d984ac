/**
 * What every api needs (docs/security.md, "Authorization"), in one table the compiler keeps
 * complete: an api added without an entry does not build. Runs before the handler, only for
 * a request with a principal (`auth: scram`); a refusal fails the whole request with
 * TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED or CLUSTER_AUTHORIZATION_FAILED.
 *
 * `HANDLER` marks apis that check in their handler instead, per topic: a refused topic fails
 * alone (Produce, Fetch, ListOffsets, the topic admin apis) or is answered as a missing one
 * (Metadata, DescribeTopics, VerifyTopic), and listings leave out what the principal may not
 * describe (ListGroups, ShareDescribe of every group, OffsetFetch of every partition). `OPEN`
 * marks the apis served to anyone logged in (or logging in).
 *
 * Consumer and share groups are both `group` resources (one namespace of ACL names).
 */
import { Api, type ApiKey } from '../protocol/api.js';
import type { RequestOf } from '../protocol/api-table.js';
import type { Request } from '../protocol/parse-request.js';
import type { BrokerContext, RequestScope } from './context.js';
import { requireCluster, requireGroup, requireTopic } from './authorize.js';

type Check<A extends ApiKey> = (ctx: BrokerContext, req: RequestOf<A>, scope: RequestScope) => void;
const HANDLER = 'handler';
const OPEN = 'open';
type Entry<A extends ApiKey> = Check<A> | typeof HANDLER | typeof OPEN;

/** Read on the group and on every topic: what a member's or worker's request needs. */
function readGroupAndTopics(ctx: BrokerContext, scope: RequestScope, group: string, topics: Iterable<string>): void {
  requireGroup(ctx, scope, 'read', group);
  for (const t of topics) requireTopic(ctx, scope, 'read', t);
}

/** Alter on the group and read on the topic: a share-group admin change that reads or replays a topic. */
function alterGroupReadTopic(ctx: BrokerContext, scope: RequestScope, group: string, topic: string): void {
  requireGroup(ctx, scope, 'alter', group);
  requireTopic(ctx, scope, 'read', topic);
}

const CHECKS: { readonly [A in ApiKey]: Entry<A> } = {
  [Api.Produce]: HANDLER,
  [Api.Fetch]: HANDLER,
  [Api.ListOffsets]: HANDLER,
  [Api.Metadata]: HANDLER,
  [Api.CreateTopics]: HANDLER,
  [Api.DeleteTopics]: HANDLER,
  [Api.CreatePartitions]: HANDLER,
  [Api.DescribeTopics]: HANDLER,
  [Api.VerifyTopic]: HANDLER,
  // A consumer's epoch query (a follower's carries replicaId and is the inter-broker user's).
  [Api.OffsetsForLeaderEpoch]: (ctx, req, scope) => { for (const p of req.partitions) requireTopic(ctx, scope, 'describe', p.topic); },
  [Api.ConsumerGroupHeartbeat]: (ctx, req, scope) => readGroupAndTopics(ctx, scope, req.groupId, req.subscribedTopics ?? []),
  [Api.OffsetCommit]: (ctx, req, scope) => readGroupAndTopics(ctx, scope, req.groupId, req.partitions.map((p) => p.topic)),
  [Api.OffsetFetch]: HANDLER,
  [Api.OffsetDelete]: (ctx, req, scope) => {
    requireGroup(ctx, scope, 'delete', req.groupId);
    for (const p of req.partitions) requireTopic(ctx, scope, 'read', p.topic);
  },
  [Api.FindCoordinator]: (ctx, req, scope) => requireGroup(ctx, scope, 'describe', req.key),
  [Api.ListGroups]: HANDLER,
  [Api.DescribeGroups]: (ctx, req, scope) => { for (const g of req.groupIds) requireGroup(ctx, scope, 'describe', g); },
  [Api.ConsumerGroupDescribe]: (ctx, req, scope) => { for (const g of req.groupIds) requireGroup(ctx, scope, 'describe', g); },
  [Api.DeleteGroups]: (ctx, req, scope) => { for (const g of req.groupIds) requireGroup(ctx, scope, 'delete', g); },
  // The settles an acquire carries (`acks`) need what a ShareAck of them would.
  [Api.ShareAcquire]: (ctx, req, scope) => readGroupAndTopics(ctx, scope, req.groupId, req.acks ? [...req.topics, ...req.acks.workers.flatMap((w) => w.entries.map((e) => e.topic))] : req.topics),
  [Api.ShareAck]: (ctx, req, scope) => readGroupAndTopics(ctx, scope, req.groupId, [...req.entries, ...(req.workers ?? []).flatMap((w) => w.entries)].map((e) => e.topic)),
  [Api.ShareProgress]: (ctx, req, scope) => readGroupAndTopics(ctx, scope, req.groupId, [req.topic]),
  [Api.ShareLeave]: (ctx, req, scope) => requireGroup(ctx, scope, 'read', req.groupId),
  [Api.ShareDescribe]: HANDLER,
  [Api.ShareDelete]: (ctx, req, scope) => requireGroup(ctx, scope, 'delete', req.groupId),
  // And read on the topic: a reset replays it to the group, a cancel by key searches its
  // records' keys (and says which matched); Kafka asks topic read of AlterShareGroupOffsets too.
  [Api.ShareReset]: (ctx, req, scope) => alterGroupReadTopic(ctx, scope, req.groupId, req.topic),
  [Api.ShareCancel]: (ctx, req, scope) => alterGroupReadTopic(ctx, scope, req.groupId, req.topic),
  [Api.ShareAlter]: (ctx, req, scope) => requireGroup(ctx, scope, 'alter', req.groupId),
  // Producer ids: for a principal that may write somewhere (Kafka's rule since 3.0), or alter the cluster.
  [Api.InitProducerId]: (ctx, _req, scope) => {
    const p = scope.principal!;
    if (ctx.authorizer!.allowsSome(p, 'write', 'topic')) return;
    requireCluster(ctx, scope, 'alter');
  },
  // Broker-only (connection-auth.ts refuses it from anyone but the inter-broker user).
  [Api.FailsafeCheck]: (ctx, _req, scope) => requireCluster(ctx, scope, 'alter'),
  [Api.AlterPartitionReassignments]: (ctx, _req, scope) => requireCluster(ctx, scope, 'alter'),
  [Api.ListPartitionReassignments]: (ctx, _req, scope) => requireCluster(ctx, scope, 'describe'),
  [Api.ElectLeaders]: (ctx, _req, scope) => requireCluster(ctx, scope, 'alter'),
  [Api.ApiVersions]: OPEN,
  [Api.SaslHandshake]: OPEN,
  [Api.SaslAuthenticate]: OPEN,
  // Users and ACLs: alter on the cluster to change, describe to list (their handlers check, auth on or off alike).
  [Api.DescribeUserScramCredentials]: HANDLER,
  [Api.AlterUserScramCredentials]: HANDLER,
  [Api.DescribeAcls]: HANDLER,
  [Api.CreateAcls]: HANDLER,
  [Api.DeleteAcls]: HANDLER,
  // Client quotas: their handler checks (a superUsers user or the inter-broker user).
  [Api.DescribeClientQuotas]: HANDLER,
  [Api.AlterClientQuotas]: HANDLER,
};

function entryOf<A extends ApiKey>(api: A): Entry<A> {
  return CHECKS[api];
}

/**
 * Throws the refusal when the request's principal may not send it; returns when it may or
 * when nothing is checked (no principal: `auth: none`).
 */
export function authorizeRequest(ctx: BrokerContext, req: Request, scope: RequestScope): void {
  if (scope.principal === undefined || ctx.authorizer === undefined) return;
  const e = entryOf(req.api) as Entry<typeof req.api>;
  if (typeof e === 'function') (e as (c: BrokerContext, r: Request, s: RequestScope) => void)(ctx, req, scope);
}

