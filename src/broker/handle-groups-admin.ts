/**
 * Group administration: ListGroups (16), DescribeGroups (15) and ConsumerGroupDescribe
 * (69, same shapes), DeleteGroups (42; NON_EMPTY_GROUP while it has members).
 *
 * Describe adds, per committed partition, the partition's log end (high watermark) and the
 * lag = logEnd - committed, clamped at 0; both are -1 when the partition no longer exists.
 *
 * auth scram: a group's description shows only the topics the principal may describe: offsets
 * and members' subscriptions and assignments of other topics are left out (as Kafka's
 * OffsetFetch leaves out unauthorized topics), so describing a group never tells the names,
 * offsets or lag of topics the principal may not see.
 *
 * Cluster mode: ListGroups lists the groups coordinated by this broker; Admin.listGroups
 * asks every live broker and merges the lists (as Kafka's admin does); Describe and Delete answer per group, NOT_COORDINATOR (or
 * COORDINATOR_LOAD_IN_PROGRESS) for a group another broker coordinates.
 */
import type { SluiceError } from '../errors.js';
import type { GroupDescription as CoordinatorGroupDescription } from '../group/coordinator.js';
import type { MemberDescription } from '../group/group.js';
import type { TopicPartitions } from '../group/types.js';
import type { GroupDescription, Api } from '../protocol/api.js';
import { wireError } from './wire-error.js';
import type { Handler } from './handler.js';
import { groupRefusal, mayDescribeTopic } from './authorize.js';
import type { BrokerContext, RequestScope } from './context.js';

/** The description with every topic the principal may not describe left out; as it is when nothing is checked (auth none). */
function visiblePart(ctx: BrokerContext, scope: RequestScope | undefined, d: CoordinatorGroupDescription): CoordinatorGroupDescription {
  if (scope?.principal === undefined || ctx.authorizer === undefined) return d;
  const seen = (t: string): boolean => mayDescribeTopic(ctx, scope, t);
  const tps = (l: TopicPartitions[]): TopicPartitions[] => l.filter((tp) => seen(tp.topic));
  const members = d.members.map((m): MemberDescription => ({
    ...m,
    ...(m.subscribedTopics !== undefined && { subscribedTopics: m.subscribedTopics.filter(seen) }),
    assignment: tps(m.assignment), revoking: tps(m.revoking), targetAssignment: tps(m.targetAssignment),
  }));
  return { ...d, members, ...(d.offsets !== undefined && { offsets: d.offsets.filter((o) => seen(o.topic)) }) };
}

export const handleListGroups: Handler<typeof Api.ListGroups> = async (ctx, req, scope) => {
  // auth scram: only the groups the principal may describe.
  const groups = ctx.groups.coordinators().flatMap((c) => c.listGroups(req.states)).filter((g) => groupRefusal(ctx, scope, 'describe', g.groupId) === undefined);
  groups.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  return { id: req.id, groups };
};

export const handleDescribeGroups: Handler<typeof Api.DescribeGroups | typeof Api.ConsumerGroupDescribe> = async (ctx, req, scope) => {
  const describeOne = (id: string): CoordinatorGroupDescription => {
    try {
      return ctx.groups.coordinatorFor(id).describeGroups([id], req.includeOffsets ?? true)[0]!;
    } catch (err) {
      return { groupId: id, error: err as SluiceError, state: 'Dead', groupEpoch: -1, targetEpoch: -1, assignor: '', members: [] };
    }
  };
  try {
    const groups = req.groupIds.map((id) => visiblePart(ctx, scope, describeOne(id))).map((d): GroupDescription => {
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
    const rs: { groupId: string; error?: SluiceError }[] = [];
    for (const id of req.groupIds) {
      try {
        rs.push(...await ctx.groups.coordinatorFor(id).deleteGroups([id]));
      } catch (err) {
        rs.push({ groupId: id, error: err as SluiceError });
      }
    }
    for (const r of rs) if (!r.error) ctx.log.info('group deleted', { group: r.groupId });
    return { id: req.id, groups: rs.map((r) => (r.error ? { groupId: r.groupId, error: wireError(r.error, ctx.log) } : { groupId: r.groupId })) };
  } catch (err) {
    return { id: req.id, error: wireError(err, ctx.log), groups: [] };
  }
};
