/**
 * ConsumerGroupHeartbeat (api 68): join, stay, reconcile or leave (docs/groups.md). The
 * coordinator's thrown error is the whole request's error (FENCED_MEMBER_EPOCH,
 * UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT, ...), answered in the response header.
 */
import type { ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse } from '../protocol/api.js';
import type { BrokerContext } from './context.js';
import { wireError } from './wire-error.js';

export async function handleConsumerGroupHeartbeat(ctx: BrokerContext, req: ConsumerGroupHeartbeatRequest): Promise<ConsumerGroupHeartbeatResponse> {
  try {
    const out = ctx.groups.coordinator.heartbeat(req.groupId, req);
    return { id: req.id, ...out };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log, { group: req.groupId }), memberId: req.memberId, memberEpoch: req.memberEpoch, heartbeatIntervalMs: 0 };
  }
}
