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
 * them share the one commit and its fsync. What an entry does: share-settle.ts.
 *
 * The answer also carries (`acked`) the outcomes of settles that earlier ShareAcquires of
 * the group carried on this connection, once all of them are durable (share-acks-owed.ts):
 * a ShareAck with no entries is how a worker collects them when it stops asking.
 */
import type { Api } from '../protocol/api.js';
import { shareServiceFor } from './share-coordinators.js';
import { settleUnits } from './share-settle.js';
import { outcomesOwed, takeOwed } from './share-acks-owed.js';
import type { Handler } from './handler.js';

export const handleShareAck: Handler<typeof Api.ShareAck> = async (ctx, req, scope) => {
  const svc = shareServiceFor(ctx, req.groupId);
  const units = [{ workerId: req.workerId, holder: req.holder, entries: req.entries }, ...(req.workers ?? [])];
  const { results, durable } = settleUnits(ctx, svc, req.groupId, units, scope, 'ShareAck');
  await durable;
  // Outcomes of settles earlier acquires carried on this connection go with this answer
  // (share-acks-owed.ts): it is how a worker that stopped asking collects them.
  await outcomesOwed(scope);
  const acked = takeOwed(scope, req.groupId);
  return { id: req.id, results: results[0], ...(req.workers && { workers: results.slice(1).map((r) => ({ results: r })) }), ...(acked && { acked }) };
};
