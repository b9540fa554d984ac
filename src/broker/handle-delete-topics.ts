/** DeleteTopics (api 20). Long polls parked on a deleted topic's partitions are answered at once (server.ts subscribes them to topicDeleted). */
import type { Api, TopicResult } from '../protocol/api.js';
import { isInternalTopicName, topicNameProblem } from '../topic-name.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';
import { topicRefusal } from './authorize.js';
import { asForwarded } from './forwarded-request.js';

export const handleDeleteTopics: Handler<typeof Api.DeleteTopics> = async (ctx, req, scope) => {
  const topics: TopicResult[] = [];
  for (const name of req.topics) {
    const denied = topicRefusal(ctx, scope, 'delete', name, true);
    if (denied !== undefined) { topics.push({ name, error: denied }); continue; }
    if (isInternalTopicName(name)) {
      topics.push({ name, error: errorOf('INVALID_TOPIC', `'${name}' is an internal topic`) });
      continue;
    }
    if (!ctx.logs.topic(name)) {
      const problem = topicNameProblem(name);
      topics.push({ name, error: problem ? errorOf('INVALID_TOPIC', problem) : errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${name}'`) });
      continue;
    }
    try {
      await asForwarded(req.forwardedBy, () => ctx.logs.deleteTopic(name));
      ctx.log.info('topic deleted', { topic: name });
      topics.push({ name });
    } catch (err) {
      topics.push({ name, error: wireError(err, ctx.log, { topic: name }) });
    }
  }
  return { id: req.id, topics };
};
