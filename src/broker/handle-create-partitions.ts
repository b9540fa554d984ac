/** CreatePartitions (api 37): grow a topic to totalPartitions; shrinking is INVALID_PARTITIONS. */
import type { Api, TopicResult } from '../protocol/api.js';
import { isInternalTopicName, topicNameProblem } from '../topic-name.js';
import { errorOf, wireError } from './wire-error.js';
import { MAX_PARTITIONS } from '../storage/log-manager.js';
import type { Handler } from './handler.js';
import { topicRefusal } from './authorize.js';
import { asForwarded } from './forwarded-request.js';

export const handleCreatePartitions: Handler<typeof Api.CreatePartitions> = async (ctx, req, scope) => {
  const topics: TopicResult[] = [];
  for (const { name, totalPartitions } of req.topics) {
    const denied = topicRefusal(ctx, scope, 'alter', name, true);
    if (denied !== undefined) { topics.push({ name, error: denied }); continue; }
    const info = isInternalTopicName(name) ? undefined : ctx.logs.topic(name);
    if (!info) {
      const problem = topicNameProblem(name);
      topics.push({ name, error: problem ? errorOf('INVALID_TOPIC', problem) : errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${name}'`) });
      continue;
    }
    if (totalPartitions <= info.partitions || totalPartitions > MAX_PARTITIONS) {
      topics.push({ name, error: errorOf('INVALID_PARTITIONS', `topic '${name}' has ${info.partitions} partitions; totalPartitions must be in ${info.partitions + 1}..${MAX_PARTITIONS}, got ${totalPartitions}`) });
      continue;
    }
    try {
      await asForwarded(req.forwardedBy, () => ctx.logs.addPartitions(name, totalPartitions));
      ctx.log.info('partitions added', { topic: name, from: info.partitions, to: totalPartitions });
      topics.push({ name });
    } catch (err) {
      topics.push({ name, error: wireError(err, ctx.log, { topic: name }) });
    }
  }
  return { id: req.id, topics };
};
