/**
 * Api -> handler. A handler (handler.ts) gets the request its api's schema checked
 * (api-table.ts) and returns that api's response, or undefined when none is due (Produce
 * with acks 0). Adding an api means one handler file and one line here; the map's type
 * makes a missing or mistyped handler a compile error.
 */
import { Api, type ApiKey } from '../protocol/api.js';
import type { RequestOf } from '../protocol/api-table.js';
import type { Request } from '../protocol/parse-request.js';
import type { BrokerContext, RequestScope } from './context.js';
import type { Answer, Handler } from './handler.js';
import { handleProduce } from './handle-produce.js';
import { handleFetch } from './handle-fetch.js';
import { handleListOffsets } from './handle-list-offsets.js';
import { handleMetadata } from './handle-metadata.js';
import { handleCreateTopics } from './handle-create-topics.js';
import { handleDeleteTopics } from './handle-delete-topics.js';
import { handleCreatePartitions } from './handle-create-partitions.js';
import { handleDescribeTopics } from './handle-describe-topics.js';
import { handleConsumerGroupHeartbeat } from './handle-consumer-group-heartbeat.js';
import { handleOffsetCommit, handleOffsetDelete, handleOffsetFetch } from './handle-group-offsets.js';
import { handleDeleteGroups, handleDescribeGroups, handleListGroups } from './handle-groups-admin.js';
import { handleShareAcquire } from './handle-share-acquire.js';
import { handleShareAck } from './handle-share-ack.js';
import { handleShareDescribe } from './handle-share-describe.js';
import { handleShareLeave } from './handle-share-leave.js';
import { handleShareDelete } from './handle-share-delete.js';
import { handleShareAlter } from './handle-share-alter.js';
import { handleShareReset } from './handle-share-reset.js';
import { handleShareCancel } from './handle-share-cancel.js';
import { handleShareProgress } from './handle-share-progress.js';
import { handleVerifyTopic } from './handle-verify-topic.js';
import { handleApiVersions } from './handle-api-versions.js';
import { handleOffsetsForLeaderEpoch } from './handle-offsets-for-leader-epoch.js';
import { handleInitProducerId } from './handle-init-producer-id.js';
import { handleFailsafeCheck } from './handle-failsafe-check.js';
import { handleAlterPartitionReassignments } from './handle-alter-partition-reassignments.js';
import { handleListPartitionReassignments } from './handle-list-partition-reassignments.js';
import { handleElectLeaders } from './handle-elect-leaders.js';
import { handleFindCoordinator } from './handle-find-coordinator.js';
import { handleSaslAuthenticate, handleSaslHandshake } from './handle-sasl.js';
import { handleAlterUserScramCredentials, handleDescribeUserScramCredentials } from './handle-user-scram-credentials.js';
import { handleAlterClientQuotas, handleDescribeClientQuotas } from './handle-client-quotas.js';
import { authorizeRequest } from './request-authorization.js';
import { handleCreateAcls, handleDeleteAcls, handleDescribeAcls } from './handle-acls.js';

type HandlerMap = { readonly [A in ApiKey]: Handler<A> };

const HANDLERS: HandlerMap = {
  [Api.Produce]: handleProduce,
  [Api.Fetch]: handleFetch,
  [Api.ListOffsets]: handleListOffsets,
  [Api.Metadata]: handleMetadata,
  [Api.CreateTopics]: handleCreateTopics,
  [Api.DeleteTopics]: handleDeleteTopics,
  [Api.CreatePartitions]: handleCreatePartitions,
  [Api.DescribeTopics]: handleDescribeTopics,
  [Api.ConsumerGroupHeartbeat]: handleConsumerGroupHeartbeat,
  [Api.OffsetCommit]: handleOffsetCommit,
  [Api.OffsetFetch]: handleOffsetFetch,
  [Api.OffsetDelete]: handleOffsetDelete,
  [Api.ListGroups]: handleListGroups,
  [Api.DescribeGroups]: handleDescribeGroups,
  [Api.ConsumerGroupDescribe]: handleDescribeGroups,
  [Api.DeleteGroups]: handleDeleteGroups,
  [Api.ShareAcquire]: handleShareAcquire,
  [Api.ShareAck]: handleShareAck,
  [Api.ShareDescribe]: handleShareDescribe,
  [Api.ShareLeave]: handleShareLeave,
  [Api.ShareDelete]: handleShareDelete,
  [Api.ShareReset]: handleShareReset,
  [Api.VerifyTopic]: handleVerifyTopic,
  [Api.ApiVersions]: handleApiVersions,
  [Api.OffsetsForLeaderEpoch]: handleOffsetsForLeaderEpoch,
  [Api.InitProducerId]: handleInitProducerId,
  [Api.FailsafeCheck]: handleFailsafeCheck,
  [Api.AlterPartitionReassignments]: handleAlterPartitionReassignments,
  [Api.ListPartitionReassignments]: handleListPartitionReassignments,
  [Api.ElectLeaders]: handleElectLeaders,
  [Api.FindCoordinator]: handleFindCoordinator,
  [Api.ShareCancel]: handleShareCancel,
  [Api.ShareProgress]: handleShareProgress,
  [Api.ShareAlter]: handleShareAlter,
  [Api.SaslHandshake]: handleSaslHandshake,
  [Api.SaslAuthenticate]: handleSaslAuthenticate,
  [Api.DescribeUserScramCredentials]: handleDescribeUserScramCredentials,
  [Api.AlterUserScramCredentials]: handleAlterUserScramCredentials,
  [Api.DescribeClientQuotas]: handleDescribeClientQuotas,
  [Api.AlterClientQuotas]: handleAlterClientQuotas,
  [Api.DescribeAcls]: handleDescribeAcls,
  [Api.CreateAcls]: handleCreateAcls,
  [Api.DeleteAcls]: handleDeleteAcls,
};

/** The handler of api A, typed for A (indexing the mapped type keeps request and handler paired). */
function handlerOf<A extends ApiKey>(api: A): HandlerMap[A] {
  return HANDLERS[api];
}

function call<A extends ApiKey>(ctx: BrokerContext, req: RequestOf<A>, scope: RequestScope): Promise<Answer<A>> {
  const h: Handler<A> = handlerOf(req.api);
  return h(ctx, req, scope);
}

/**
 * parseRequest has already refused unknown apis, so a handler always exists. With a
 * principal (auth scram), what the api needs is checked first (request-authorization.ts);
 * a refusal is the request's answer.
 */
export function dispatch(ctx: BrokerContext, req: Request, scope: RequestScope): Promise<object | undefined> {
  if (scope.principal !== undefined) {
    try {
      authorizeRequest(ctx, req, scope);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
  return call(ctx, req, scope);
}
