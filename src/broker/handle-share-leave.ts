/**
 * ShareLeave (api 1103): the worker leaves; what it still holds is released (each record
 * counts as a failed attempt, so a job that keeps killing its workers reaches the DLQ).
 * A graceful client first gives back unstarted jobs (release kind `unstarted`, not an
 * attempt). Leaving twice is fine.
 */
import type { ShareLeaveRequest, ShareLeaveResponse } from '../protocol/api.js';
import type { BrokerContext, RequestScope } from './context.js';
import { shareService } from './share-service.js';

export async function handleShareLeave(ctx: BrokerContext, req: ShareLeaveRequest, scope?: RequestScope): Promise<ShareLeaveResponse> {
  const svc = shareService(ctx);
  const dls = svc.coord.leave(req.groupId, req.workerId);
  svc.unbindWorker(scope, req.groupId, req.workerId);
  await svc.commit(dls, true);
  svc.wakeGroup(req.groupId);
  return { id: req.id };
}
