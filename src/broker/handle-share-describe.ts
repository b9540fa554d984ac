/**
 * ShareDescribe (api 1102): counts of each share group (all of them when groupIds is
 * omitted). An unknown group is a per-group GROUP_ID_NOT_FOUND, not a failed request: its
 * entry carries only the id and the error (no settings or counts it does not have).
 * auth scram: partitions and held jobs of topics the principal may not describe are left out
 * (docs/security.md), as in a consumer group's description.
 */
import type { Api, ShareGroupDescribeFailure, ShareGroupDescriptionWire } from '../protocol/api.js';
import { shareCoordinators } from './share-coordinators.js';
import { wireError } from './wire-error.js';
import { settingsOf } from './share-settings.js';
import type { Handler } from './handler.js';
import { groupRefusal, mayDescribeTopic } from './authorize.js';

export const handleShareDescribe: Handler<typeof Api.ShareDescribe> = async (ctx, req, scope) => {
  const shares = shareCoordinators(ctx);
  // Cluster mode: without ids, the groups coordinated here; a named group coordinated
  // elsewhere fails alone with NOT_COORDINATOR (the client asks its coordinator).
  // auth scram: without ids, only the groups the principal may describe; a named one it may not fails alone.
  const ids = req.groupIds ?? shares.services().flatMap((s) => s.coord.groups()).filter((g) => groupRefusal(ctx, scope, 'describe', g) === undefined);
  const seen = (t: string): boolean => mayDescribeTopic(ctx, scope, t);
  const groups = ids.map((groupId): ShareGroupDescriptionWire | ShareGroupDescribeFailure => {
    const denied = groupRefusal(ctx, scope, 'describe', groupId);
    if (denied !== undefined) return { groupId, error: denied };
    try {
      const coord = shares.forGroup(groupId).coord;
      const d = coord.describe(groupId);
      return {
        groupId,
        settings: settingsOf(d.config),
        workers: d.workers.map((w) => ({ workerId: w.workerId, lastSeenMsAgo: w.lastSeenMsAgo, inFlight: w.inFlight, acquired: w.acquired })),
        available: d.available, delayed: d.delayed, inFlight: d.inFlight, acked: d.acked, deadLettered: d.deadLettered,
        redeliveries: d.redeliveries, cancelled: d.cancelled, oldestUnackedMs: d.oldestUnackedMs,
        partitions: d.partitions.filter((p) => seen(p.topic)).map((p) => ({
          topic: p.topic, partition: p.partition, startOffset: p.startOffset, endOffset: p.endOffset,
          available: p.available, inFlight: p.inFlight, backlog: p.backlog,
        })),
        ...(req.jobs !== undefined && { jobs: coord.heldJobs(groupId, req.jobs).filter((j) => seen(j.topic)) }),
      };
    } catch (err) {
      return { groupId, error: wireError(err, ctx.log, { api: 'ShareDescribe', group: groupId }) };
    }
  });
  return { id: req.id, groups };
};
