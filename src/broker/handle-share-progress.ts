/**
 * ShareProgress (api 1111): the worker holding a record reports progress on it (job.progress).
 * The report is the job's heartbeat: the lock is extended as a ShareAck extend with no
 * extendMs is (now + visibilityTimeoutMs). The progress itself is kept in the coordinator's
 * memory only, for `describe --jobs` (not written to the share state log: a coordinator move
 * or restart forgets it, as it forgets the lock). Its size is bounded by the broker setting
 * maxJobProgressBytes (bytes of the JSON text); a larger one is INVALID_REQUEST naming both.
 */
import type { Api } from '../protocol/api.js';
import { InvalidShareRequestError } from '../queue/errors.js';
import { shareServiceFor } from './share-coordinators.js';
import type { Handler } from './handler.js';

export const handleShareProgress: Handler<typeof Api.ShareProgress> = async (ctx, req, scope) => {
  const max = ctx.config.maxJobProgressBytes;
  const bytes = Buffer.byteLength(req.progress, 'utf8');
  if (bytes > max) {
    throw new InvalidShareRequestError(`progress of ${req.topic}/${req.partition}@${req.offset} is ${bytes} bytes of JSON; the broker takes at most ${max} (setting maxJobProgressBytes)`);
  }
  const svc = shareServiceFor(ctx, req.groupId);
  const lockDeadline = svc.coord.progress(req.groupId, req.workerId, req.topic, req.partition, req.offset, req.progress);
  // A worker reporting progress is alive on this connection (it may have reconnected).
  svc.bindWorker(scope, req.groupId, req.workerId);
  return { id: req.id, lockDeadline };
};
