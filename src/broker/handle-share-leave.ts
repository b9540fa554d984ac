/**
 * ShareLeave (api 1103): the worker leaves; what it still holds is released (each record
 * counts as a failed attempt, so a job that keeps killing its workers reaches the DLQ).
 * A graceful client first gives back unstarted jobs (release kind `unstarted`, not an
 * attempt). Leaving twice is fine.
 */
import type { Api } from '../protocol/api.js';
import { shareServiceFor } from './share-coordinators.js';
import type { Handler } from './handler.js';

export const handleShareLeave: Handler<typeof Api.ShareLeave> = async (ctx, req, scope) => {
  const svc = shareServiceFor(ctx, req.groupId);
  const dls = svc.coord.leave(req.groupId, req.workerId);
  svc.unbindWorker(scope, req.groupId, req.workerId);
  await svc.commit(dls, true);
  svc.wakeGroup(req.groupId);
  return { id: req.id };
};
