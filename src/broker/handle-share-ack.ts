/**
 * ShareAck (api 1101): settles records a worker holds. Each entry is all or nothing and
 * gets its own result (INVALID_RECORD_STATE when the worker does not hold one of its
 * offsets, UNKNOWN_MEMBER_ID when the group no longer knows the worker; every entry
 * INVALID_RECORD_STATE when the request names a `holder` token that is no longer the
 * worker's, ShareService.holderOf; each entry of `workers` names its own, checked for that
 * worker alone). The answer goes
 * out only after the state is fsynced (and dead letters are in their topic), so an
 * acknowledged ack survives a crash.
 *
 * `workers` carries the entries of other workers of the group that share this connection
 * (the client coalesces their acks into one request, docs/queue-performance.md step 5): each
 * worker's entries are settled as that worker's and answered in `workers` of the response,
 * so one worker's refused entry (it left, its lock expired) fails only that entry. All of
 * them share the one commit and its fsync.
 */
import type { Api, ShareAckEntry, ShareAckResult } from '../protocol/api.js';
import type { DeadLetter } from '../queue/types.js';
import type { RequestScope } from './context.js';
import { shareServiceFor } from './share-coordinators.js';
import type { ShareService } from './share-service.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleShareAck: Handler<typeof Api.ShareAck> = async (ctx, req, scope) => {
  const svc = shareServiceFor(ctx, req.groupId);
  const { groupId } = req;
  const coord = svc.coord;
  const dls: DeadLetter[] = [];
  let freed = false;
  /** Some worker's entries got past the holder check (otherwise nothing changed: no commit). */
  let settled = false;
  /** Settles one worker's entries in the coordinator's memory; the commit below makes them durable. */
  const settle = (workerId: string, holder: string | undefined, entries: ShareAckEntry[]): ShareAckResult[] => {
    if (holder !== undefined && holder !== svc.holderOf(groupId, workerId)) {
      // Sent for locks of an earlier holder token (this coordinator reloaded or moved, or the
      // worker left and came back): those locks are gone, and the offsets may be this worker's
      // again under a new acquisition that this request must not settle. Only this worker's
      // entries fail: the others of a coalesced request are settled as usual.
      const error = errorOf('INVALID_RECORD_STATE', `worker '${workerId}' of share group '${groupId}' no longer holds records under holder ${holder}`);
      return entries.map(() => ({ error }));
    }
    settled = true;
    const results = entries.map((e): ShareAckResult => {
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
    alive(svc, scope, groupId, workerId);
    return results;
  };
  const results = settle(req.workerId, req.holder, req.entries);
  const workers = req.workers?.map((w) => ({ results: settle(w.workerId, w.holder, w.entries) }));
  if (!settled) return { id: req.id, results, ...(workers && { workers }) };
  await svc.commit(dls, true);
  // A settled record frees a slot of a group-wide concurrency limit: parked acquires look again.
  if (freed || coord.group(groupId)?.config.maxInFlight) svc.wakeGroup(groupId);
  return { id: req.id, results, ...(workers && { workers }) };
};

/** A worker settling records is alive on this connection (it may have reconnected). */
function alive(svc: ShareService, scope: RequestScope | undefined, groupId: string, workerId: string): void {
  if (svc.coord.group(groupId)?.workers.has(workerId)) svc.bindWorker(scope, groupId, workerId);
}
