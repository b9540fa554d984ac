/**
 * ShareAck (api 1101): settles records a worker holds. Each entry is all or nothing and
 * gets its own result (INVALID_RECORD_STATE when the worker does not hold one of its
 * offsets, UNKNOWN_MEMBER_ID when the group no longer knows the worker; every entry
 * INVALID_RECORD_STATE when the request names a `holder` token that is no longer the
 * worker's, ShareService.holderOf). The answer goes
 * out only after the state is fsynced (and dead letters are in their topic), so an
 * acknowledged ack survives a crash.
 */
import type { Api, ShareAckResponse } from '../protocol/api.js';
import type { DeadLetter } from '../queue/types.js';
import { shareServiceFor } from './share-coordinators.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleShareAck: Handler<typeof Api.ShareAck> = async (ctx, req, scope) => {
  const svc = shareServiceFor(ctx, req.groupId);
  const { groupId, workerId } = req;
  const coord = svc.coord;
  if (req.holder !== undefined && req.holder !== svc.holderOf(groupId, workerId)) {
    // Sent for locks of an earlier holder token (this coordinator reloaded or moved, or the
    // worker left and came back): those locks are gone, and the offsets may be this worker's
    // again under a new acquisition that this request must not settle.
    const error = errorOf('INVALID_RECORD_STATE', `worker '${workerId}' of share group '${groupId}' no longer holds records under holder ${req.holder}`);
    return { id: req.id, results: req.entries.map(() => ({ error })) };
  }
  const dls: DeadLetter[] = [];
  let freed = false;
  const results: ShareAckResponse['results'] = req.entries.map((e) => {
    const targets = [{ topic: e.topic, partition: e.partition, offsets: e.offsets }];
    try {
      switch (e.type) {
        case 'ack':
          coord.ack(groupId, workerId, targets);
          return {};
        case 'reject':
          dls.push(...coord.reject(groupId, workerId, targets, e.reason));
          return {};
        case 'release':
          dls.push(...coord.release(groupId, workerId, targets, { delayMs: e.delayMs, reason: e.reason, kind: e.kind }));
          freed = true;
          return {};
        case 'extend':
          return { lockDeadline: coord.extend(groupId, workerId, targets, e.extendMs) };
      }
    } catch (err) {
      return { error: wireError(err, ctx.log, { api: 'ShareAck', group: groupId, topic: e.topic, partition: e.partition }) };
    }
  });
  // A worker settling records is alive on this connection (it may have reconnected).
  if (coord.group(groupId)?.workers.has(workerId)) svc.bindWorker(scope, groupId, workerId);
  await svc.commit(dls, true);
  // A settled record frees a slot of a group-wide concurrency limit: parked acquires look again.
  if (freed || coord.group(groupId)?.config.maxInFlight) svc.wakeGroup(groupId);
  return { id: req.id, results };
};
