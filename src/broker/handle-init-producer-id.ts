/**
 * InitProducerId (api 22): a new producer id for an idempotent producer, from ctx.producerIds
 * (a durable counter on a single broker, etcd blocks in cluster mode), at epoch 0. Without a
 * transactional id there is no earlier session to fence: a producer that must start a new
 * sequence bumps its epoch itself (client/idempotence.ts, KIP-360) and asks for a new id only
 * once its epoch is spent.
 */
import type { InitProducerIdRequest, InitProducerIdResponse } from '../protocol/api.js';
import type { BrokerContext } from './context.js';

export async function handleInitProducerId(ctx: BrokerContext, req: InitProducerIdRequest): Promise<InitProducerIdResponse> {
  return { id: req.id, producerId: await ctx.producerIds.nextId(), producerEpoch: 0 };
}
