/**
 * CreateTopics (api 19). Each topic succeeds or fails alone: INVALID_TOPIC for an illegal
 * name (checked before storage sees it), INVALID_PARTITIONS for a count < 1,
 * INVALID_CONFIG for an unknown or out-of-range override, TOPIC_ALREADY_EXISTS.
 * Topics are created one after another so two entries with one name cannot race.
 *
 * replicationFactor: a single broker holds one replica, so anything but 1 is
 * INVALID_REPLICATION_FACTOR, and so is minInsyncReplicas above 1 (INVALID_CONFIG). In cluster
 * mode the topic is created by the controller (this broker forwards to it when it is not;
 * controller-route.ts), which checks both against the live brokers; the answer comes once this
 * broker's view shows the topic.
 */
import type { Api, TopicResult } from '../protocol/api.js';
import { INTERNAL_TOPIC_PREFIX, isInternalTopicName, topicNameProblem } from '../topic-name.js';
import { topicConfigProblem } from '../protocol/topic-config.js';
import { errorOf, wireError } from './wire-error.js';
import { MAX_PARTITIONS } from '../storage/log-manager.js';
import type { Handler } from './handler.js';
import { topicRefusal } from './authorize.js';
import { asForwarded } from './forwarded-request.js';

export const handleCreateTopics: Handler<typeof Api.CreateTopics> = async (ctx, req, scope) => {
  const topics: TopicResult[] = [];
  for (const t of req.topics) {
    const name = t.name;
    // First: the answer to a principal without create must not tell whether the topic exists.
    const denied = topicRefusal(ctx, scope, 'create', name, true);
    if (denied !== undefined) { topics.push({ name, error: denied }); continue; }
    const nameProblem = topicNameProblem(name);
    if (nameProblem) { topics.push({ name, error: errorOf('INVALID_TOPIC', nameProblem) }); continue; }
    if (isInternalTopicName(name)) { topics.push({ name, error: errorOf('INVALID_TOPIC', `topic names starting with '${INTERNAL_TOPIC_PREFIX}' are reserved for the broker`) }); continue; }
    if (t.partitions < 1 || t.partitions > MAX_PARTITIONS) {
      topics.push({ name, error: errorOf('INVALID_PARTITIONS', `partitions must be in 1..${MAX_PARTITIONS}, got ${t.partitions}`) });
      continue;
    }
    const configProblem = t.config ? topicConfigProblem(t.config as Record<string, unknown>) : undefined;
    if (configProblem) { topics.push({ name, error: errorOf('INVALID_CONFIG', configProblem) }); continue; }
    const rf = t.replicationFactor;
    if (!ctx.cluster && rf !== undefined && rf !== 1) {
      topics.push({ name, error: errorOf('INVALID_REPLICATION_FACTOR', `replication factor ${rf} is not possible: a single broker holds one replica`) });
      continue;
    }
    if (ctx.cluster && rf !== undefined && rf < 1) {
      topics.push({ name, error: errorOf('INVALID_REPLICATION_FACTOR', `replication factor must be at least 1, got ${rf}`) });
      continue;
    }
    const mir = t.config?.minInsyncReplicas;
    if (!ctx.cluster && mir !== undefined && mir > 1) {
      topics.push({ name, error: errorOf('INVALID_CONFIG', `minInsyncReplicas ${mir} is larger than the replication factor 1 of a single broker`) });
      continue;
    }
    if (ctx.logs.topic(name)) { topics.push({ name, error: errorOf('TOPIC_ALREADY_EXISTS', `topic '${name}' already exists`) }); continue; }
    try {
      await asForwarded(req.forwardedBy, () => ctx.logs.createTopic(name, t.partitions, t.config, rf === undefined ? {} : { replicationFactor: rf }));
      ctx.log.info('topic created', { topic: name, partitions: t.partitions, config: t.config ?? {} });
      topics.push({ name });
    } catch (err) {
      topics.push({ name, error: wireError(err, ctx.log, { topic: name }) });
    }
  }
  return { id: req.id, topics };
};
