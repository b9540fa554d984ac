/**
 * The offset apis: OffsetCommit (8), OffsetFetch (9), OffsetDelete (47). A commit is
 * answered once the accepted offsets are fsynced to the offsets log ("acks all"): the
 * store appends each commit request as one durable batch before it becomes visible.
 * Per-partition errors (membership, metadata size, storage) ride in each partition's entry;
 * a malformed group id fails the whole request.
 */
import type { PartitionResult } from '../group/coordinator.js';
import type { WireError } from '../protocol/errors.js';
import type { BrokerContext } from './context.js';
import { wireError } from './wire-error.js';
import type { Api } from '../protocol/api.js';
import type { Handler } from './handler.js';
import { requireGroup, requireTopic, topicRefusal } from './authorize.js';

function results(ctx: BrokerContext, rs: PartitionResult[]): { topic: string; partition: number; error?: WireError }[] {
  return rs.map((r) => (r.error ? { topic: r.topic, partition: r.partition, error: wireError(r.error, ctx.log) } : { topic: r.topic, partition: r.partition }));
}

export const handleOffsetCommit: Handler<typeof Api.OffsetCommit> = async (ctx, req) => {
  try {
    const rs = await ctx.groups.coordinatorFor(req.groupId).commitOffsets(req.groupId, req.memberId, req.memberEpoch,
      req.partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset, metadata: p.metadata ?? '' })), req.commitSeq, req.committerId);
    return { id: req.id, partitions: results(ctx, rs) };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log, { group: req.groupId }), partitions: [] };
  }
};

/** auth scram: read on the group, and on each topic named; without names, only the readable topics' offsets are answered. */
export const handleOffsetFetch: Handler<typeof Api.OffsetFetch> = async (ctx, req, scope) => {
  requireGroup(ctx, scope, 'read', req.groupId);
  for (const p of req.partitions ?? []) requireTopic(ctx, scope, 'read', p.topic);
  try {
    let offsets = ctx.groups.coordinatorFor(req.groupId).fetchOffsets(req.groupId, req.partitions);
    if (req.partitions === undefined && scope?.principal !== undefined) offsets = offsets.filter((o) => topicRefusal(ctx, scope, 'read', o.topic) === undefined);
    return { id: req.id, partitions: offsets.map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset, metadata })) };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log, { group: req.groupId }), partitions: [] };
  }
};

export const handleOffsetDelete: Handler<typeof Api.OffsetDelete> = async (ctx, req) => {
  try {
    return { id: req.id, partitions: results(ctx, await ctx.groups.coordinatorFor(req.groupId).deleteOffsets(req.groupId, req.partitions)) };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log, { group: req.groupId }), partitions: [] };
  }
};
