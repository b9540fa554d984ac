/**
 * ShareReset (api 1105): moves where a share group reads a topic, like Kafka's
 * kafka-share-groups --reset-offsets. The broker resolves the target against the log
 * (earliest, latest, an offset clamped to the log, the first record at or after a time),
 * then checks that the group has no workers and applies the reset in one synchronous step,
 * so no worker can slip in between. The reset is durable in the share state log before
 * the answer.
 */
import type { Api } from '../protocol/api.js';
import { UnknownTopicError } from '../storage/errors.js';
import { shareServiceFor } from './share-coordinators.js';
import { shareTopicPartitions } from './share-topic.js';
import { jobSource } from './job-source.js';
import type { Handler } from './handler.js';

export const handleShareReset: Handler<typeof Api.ShareReset> = async (ctx, req) => {
  const { groupId, topic, to } = req;
  const count = shareTopicPartitions(ctx, topic);
  const numbers = req.partitions ?? Array.from({ length: count }, (_, i) => i);
  if (numbers.length > count) throw new UnknownTopicError(topic, numbers.find((p) => p >= count));
  const bad = numbers.find((p) => p >= count);
  if (bad !== undefined) throw new UnknownTopicError(topic, bad);
  // Resolved first (a timestamp lookup reads the log; in a cluster, a partition with no
  // replica in sync here asks its leader: job-source.ts), applied in one synchronous step below.
  const jobs = jobSource(ctx);
  const targets = await Promise.all(numbers.map(async (partition) => ({ topic, partition, ...(await jobs.resetTarget(topic, partition, to)) })));
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
