/**
 * ShareDelete (api 1104): forgets a share group that has no workers (like Kafka's
 * kafka-share-groups --delete). The delete is durable in the share state log before the
 * answer; a worker that acquires afterwards starts a new group from `startFrom`.
 */
import type { Api } from '../protocol/api.js';
import { shareServiceFor } from './share-coordinators.js';
import type { Handler } from './handler.js';

export const handleShareDelete: Handler<typeof Api.ShareDelete> = async (ctx, req) => {
  const svc = shareServiceFor(ctx, req.groupId);
  svc.coord.deleteGroup(req.groupId);
  await svc.commit([], true);
  return { id: req.id };
};
