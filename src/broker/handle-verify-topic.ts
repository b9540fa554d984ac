/**
 * VerifyTopic (api 1200): checks every stored batch of a topic's partitions, CRC included,
 * one partition after another (src/storage/verify.ts), and reports what it found. Problems
 * are also logged at error, so the broker log keeps a record of the damage.
 */
import type { Api, VerifyPartitionResult } from '../protocol/api.js';
import { InvalidTopicError } from '../errors.js';
import { topicNameProblem } from '../topic-name.js';
import { UnknownTopicError } from '../storage/errors.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';
import { mayDescribeTopic } from './authorize.js';

const NOTHING = { segments: 0, batches: 0, records: 0, bytes: 0, problems: [], problemCount: 0 };

export const handleVerifyTopic: Handler<typeof Api.VerifyTopic> = async (ctx, req, scope) => {
  const { topic } = req;
  // A topic the principal may not describe is answered as a missing one (docs/security.md).
  const info = mayDescribeTopic(ctx, scope, topic) ? ctx.logs.topic(topic) : undefined;
  if (!info) {
    const problem = topicNameProblem(topic);
    throw problem ? new InvalidTopicError(problem) : new UnknownTopicError(topic);
  }
  const wanted = req.partitions ?? Array.from({ length: info.partitions }, (_, p) => p);
  const partitions: VerifyPartitionResult[] = [];
  for (const partition of wanted) {
    const log = ctx.logs.log(topic, partition);
    if (!log) {
      partitions.push({ partition, ...NOTHING, error: errorOf('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic}' has no partition ${partition}`) });
      continue;
    }
    try {
      const r = await log.verify();
      if (r.problemCount > 0) ctx.log.error('storage.verify.corrupt', { topic, partition, problems: r.problemCount, first: r.problems[0] });
      partitions.push({ partition, ...r });
    } catch (err) {
      partitions.push({ partition, ...NOTHING, error: wireError(err, ctx.log, { topic, partition }) });
    }
  }
  return { id: req.id, topic, partitions };
};
