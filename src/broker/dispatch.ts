/**
 * Api number -> handler. A handler returns the response, or undefined when none is due
 * (Produce with acks 0). Adding an api means one file and one line here.
 */
import { Api } from '../protocol/api.js';
import type { Request } from '../protocol/parse-request.js';
import type { BrokerContext, RequestScope } from './context.js';
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
import { handleShareReset } from './handle-share-reset.js';
import { handleVerifyTopic } from './handle-verify-topic.js';

type Handler = (ctx: BrokerContext, req: never, scope: RequestScope) => Promise<object | undefined>;

const HANDLERS: Readonly<Record<number, Handler>> = {
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
};

/** parseRequest has already refused unknown apis, so a handler always exists. */
export function dispatch(ctx: BrokerContext, req: Request, scope: RequestScope): Promise<object | undefined> {
  return (HANDLERS[req.api] as (c: BrokerContext, r: Request, s: RequestScope) => Promise<object | undefined>)(ctx, req, scope);
}
