/**
 * ShareReset (api 1105): moves where a share group reads a topic, like Kafka's
 * kafka-share-groups --reset-offsets. The broker resolves the target against the log
 * (earliest, latest, an offset clamped to the log, the first record at or after a time),
 * then checks that the group has no workers and applies the reset in one synchronous step,
 * so no worker can slip in between. The reset is durable in the share state log before
 * the answer.
 */
import type { Api, ShareResetRequest } from '../protocol/api.js';
import { InvalidTopicError } from '../errors.js';
import { isInternalTopicName, topicNameProblem } from '../topic-name.js';
import { UnknownTopicError } from '../storage/errors.js';
import type { PartitionLog } from '../storage/types.js';
import { shareServiceFor } from './share-coordinators.js';
import type { Handler } from './handler.js';

export const handleShareReset: Handler<typeof Api.ShareReset> = async (ctx, req) => {
  const { groupId, topic, to } = req;
  if (isInternalTopicName(topic)) throw new InvalidTopicError(`'${topic}' is an internal topic`);
  const info = ctx.logs.topic(topic);
  if (!info) {
    const problem = topicNameProblem(topic);
    throw problem ? new InvalidTopicError(problem) : new UnknownTopicError(topic);
  }
  const numbers = req.partitions ?? Array.from({ length: info.partitions }, (_, i) => i);
  if (numbers.length > info.partitions) throw new UnknownTopicError(topic, numbers.find((p) => p >= info.partitions));
  const logs: [number, PartitionLog][] = numbers.map((p) => {
    const log = ctx.logs.log(topic, p);
    if (!log) throw new UnknownTopicError(topic, p);
    return [p, log];
  });
  // Resolved first (a timestamp lookup reads the log), applied in one synchronous step below.
  const targets = await Promise.all(logs.map(async ([partition, log]) => ({ topic, partition, offset: await target(log, to), logEndOffset: log.logEndOffset })));
  const svc = shareServiceFor(ctx, groupId);
  if (req.dryRun) {
    const g = svc.coord.group(groupId);
    const partitions = targets.map((t) => ({ topic, partition: t.partition, from: g?.existing(topic, t.partition)?.startOffset ?? -1, to: t.offset }));
    return { id: req.id, partitions };
  }
  const partitions = svc.coord.resetOffsets(groupId, targets);
  await svc.commit([], true);
  ctx.log.info('share group reset', { group: groupId, topic, partitions: partitions.map((p) => [p.partition, p.from, p.to]) });
  return { id: req.id, partitions };
};

async function target(log: PartitionLog, to: ShareResetRequest['to']): Promise<number> {
  const start = log.logStartOffset;
  const end = log.logEndOffset;
  if (to === 'earliest') return start;
  if (to === 'latest') return end;
  if ('offset' in to) return Math.min(end, Math.max(start, to.offset));
  return (await log.offsetForTimestamp(to.timestamp)) ?? end;
}
