/**
 * Settles of share-group records (ack, release, reject, extend), one worker's entries at a
 * time, for the two requests that carry them: ShareAck (handle-share-ack.ts) and a
 * ShareAcquire's `acks` (handle-share-acquire.ts). One place for what an entry does, the
 * holder-token check and the one durable commit that covers them.
 *
 * Each entry is all or nothing and gets its own result (INVALID_RECORD_STATE when the worker
 * does not hold one of its offsets, UNKNOWN_MEMBER_ID when the group no longer knows the
 * worker; every entry of a worker INVALID_RECORD_STATE when its `holder` token is no longer
 * the worker's, ShareService.holderOf). The settles change the coordinator's memory at once;
 * `durable` is their commit, which resolves once the state is fsynced (cluster mode: held by
 * the in-sync replicas) and the dead letters are in their topic, so nothing is called settled
 * before it would survive a crash.
 */
import type { ShareAckEntry, ShareAckResult } from '../protocol/api.js';
import type { DeadLetter } from '../queue/types.js';
import type { BrokerContext, RequestScope } from './context.js';
import type { ShareService } from './share-service.js';
import { errorOf, wireError } from './wire-error.js';

/** One worker's settles in a request. */
export interface SettleUnit {
  workerId: string;
  holder?: string | undefined;
  entries: ShareAckEntry[];
}

export interface Settled {
  /** Per unit, per entry, in the request's order. */
  results: ShareAckResult[][];
  /**
   * The commit that makes the settles durable (then the group's parked acquires are woken
   * when a slot freed); undefined when no unit got past the holder check (nothing changed).
   */
  durable: Promise<void> | undefined;
}

/**
 * Applies `units` to the coordinator's memory and starts their durable commit. Call it in the
 * tick the request arrived in, before anything else of the request commits: a commit made in
 * the same tick (an acquisition's) then shares the one state write.
 */
export function settleUnits(ctx: BrokerContext, svc: ShareService, groupId: string, units: readonly SettleUnit[], scope: RequestScope | undefined, api: string): Settled {
  const coord = svc.coord;
  const dls: DeadLetter[] = [];
  let freed = false;
  let settled = false;
  const results = units.map(({ workerId, holder, entries }): ShareAckResult[] => {
    if (holder !== undefined && holder !== svc.holderOf(groupId, workerId)) {
      // Sent for locks of an earlier holder token (this coordinator reloaded or moved, or the
      // worker left and came back): those locks are gone, and the offsets may be this worker's
      // again under a new acquisition that this request must not settle. Only this worker's
      // entries fail: the others of a coalesced request are settled as usual.
      const error = errorOf('INVALID_RECORD_STATE', `worker '${workerId}' of share group '${groupId}' no longer holds records under holder ${holder}`);
      return entries.map(() => ({ error }));
    }
    settled = true;
    const out = entries.map((e): ShareAckResult => {
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
        return { error: wireError(err, ctx.log, { api, group: groupId, topic: e.topic, partition: e.partition }) };
      }
    });
    // A worker settling records is alive on this connection (it may have reconnected).
    if (coord.group(groupId)?.workers.has(workerId)) svc.bindWorker(scope, groupId, workerId);
    return out;
  });
  if (!settled) return { results, durable: undefined };
  const durable = svc.commit(dls, true).then(() => {
    // A settled record frees a slot of a group-wide concurrency limit: parked acquires look again.
    if (freed || coord.group(groupId)?.config.maxInFlight) svc.wakeGroup(groupId);
  });
  return { results, durable };
}
