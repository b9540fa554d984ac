/**
 * InitProducerId (api 22): a new producer id for an idempotent producer, from ctx.producerIds
 * (a durable counter on a single broker, etcd blocks in cluster mode), at epoch 0. Without a
 * transactional id there is no earlier session to fence, so the epoch never moves; a producer
 * that must start a new sequence (UNKNOWN_PRODUCER_ID) asks for a new id instead.
 */
import type { InitProducerIdRequest, InitProducerIdResponse } from '../protocol/api.js';
import type { BrokerContext } from './context.js';

export async function handleInitProducerId(ctx: BrokerContext, req: InitProducerIdRequest): Promise<InitProducerIdResponse> {
  return { id: req.id, producerId: await ctx.producerIds.nextId(), producerEpoch: 0 };
}
