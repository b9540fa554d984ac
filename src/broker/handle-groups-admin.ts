/**
 * Group administration: ListGroups (16), DescribeGroups (15) and ConsumerGroupDescribe
 * (69, same shapes), DeleteGroups (42; NON_EMPTY_GROUP while it has members).
 *
 * Describe adds, per committed partition, the partition's log end (high watermark) and the
 * lag = logEnd - committed, clamped at 0; both are -1 when the partition no longer exists.
 */
import type { GroupDescription, Api } from '../protocol/api.js';
import { wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleListGroups: Handler<typeof Api.ListGroups> = async (ctx, req) => {
  return { id: req.id, groups: ctx.groups.coordinator.listGroups(req.states) };
};

export const handleDescribeGroups: Handler<typeof Api.DescribeGroups | typeof Api.ConsumerGroupDescribe> = async (ctx, req) => {
  try {
    const groups = ctx.groups.coordinator.describeGroups(req.groupIds, req.includeOffsets ?? true).map((d): GroupDescription => {
      const { error, offsets, ...rest } = d;
      return {
        ...rest,
        ...(error ? { error: wireError(error, ctx.log) } : {}),
        ...(offsets ? {
          offsets: offsets.map((o) => {
            const end = ctx.logs.log(o.topic, o.partition)?.stats().logEndOffset ?? -1;
            return { ...o, logEndOffset: end, lag: end < 0 ? -1 : Math.max(0, end - o.offset) };
          }),
        } : {}),
      };
    });
    return { id: req.id, groups };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log), groups: [] };
  }
};

export const handleDeleteGroups: Handler<typeof Api.DeleteGroups> = async (ctx, req) => {
  try {
    const rs = await ctx.groups.coordinator.deleteGroups(req.groupIds);
    for (const r of rs) if (!r.error) ctx.log.info('group deleted', { group: r.groupId });
    return { id: req.id, groups: rs.map((r) => (r.error ? { groupId: r.groupId, error: wireError(r.error, ctx.log) } : { groupId: r.groupId })) };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log), groups: [] };
  }
};
