/**
 * ConsumerGroupHeartbeat (api 68): join, stay, reconcile or leave (docs/groups.md). The
 * coordinator's thrown error is the whole request's error (FENCED_MEMBER_EPOCH,
 * UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT, ...), answered in the response header.
 *
 * In cluster mode the answer waits until the group's membership as of this heartbeat is
 * written to the coordinator partition (GroupCoordinator.membershipDurable).
 *
 * Each answered heartbeat records the member's connection for rebalance pushes
 * (group-push.ts); a leave or a refused member drops it.
 */
import type { Api } from '../protocol/api.js';
import { wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleConsumerGroupHeartbeat: Handler<typeof Api.ConsumerGroupHeartbeat> = async (ctx, req, scope) => {
  const push = ctx.groups.push;
  try {
    const coordinator = ctx.groups.coordinatorFor(req.groupId);
    // auth scram: the connection's user, so a pattern resolves only to topics it may read.
    const input = scope?.principal === undefined ? req : { ...req, principal: scope.principal };
    const out = push.during(req.groupId, req.memberId, () => coordinator.heartbeat(req.groupId, input));
    // Cluster mode: the epoch and assignment answered are durable first, so a new coordinator knows them.
    await coordinator.membershipDurable(req.groupId);
    if (out.memberEpoch < 0) push.untrack(req.groupId, req.memberId);
    else if (scope) push.track(req.groupId, out.memberId, scope);
    return { id: req.id, ...out };
  } catch (err) {
    if (typeof req.memberId === 'string') push.untrack(req.groupId, req.memberId);
    return { id: req.id, error: wireError(err, ctx.log, { group: req.groupId }), memberId: req.memberId, memberEpoch: req.memberEpoch, heartbeatIntervalMs: 0 };
  }
};
