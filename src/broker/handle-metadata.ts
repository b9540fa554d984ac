/** Metadata (api 3): every topic, or the named ones, with partition count and overrides. */
import type { MetadataRequest, MetadataResponse, TopicMetadata } from '../protocol/api.js';
import { isInternalTopicName, topicNameProblem } from '../topic-name.js';
import type { BrokerContext } from './context.js';
import { errorOf } from './wire-error.js';

export async function handleMetadata(ctx: BrokerContext, req: MetadataRequest): Promise<MetadataResponse> {
  // Internal topics are left out of the full listing; asking for one by exact name answers it.
  const names = req.topics ?? ctx.logs.topics().map((t) => t.name).filter((n) => !isInternalTopicName(n)).sort();
  const topics = names.map((name): TopicMetadata => {
    const info = ctx.logs.topic(name);
    if (info) return { name, partitions: info.partitions, config: info.config };
    const problem = topicNameProblem(name);
    return { name, error: problem ? errorOf('INVALID_TOPIC', problem) : errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${name}'`), partitions: 0, config: {} };
  });
  return { id: req.id, brokerVersion: ctx.version, topics };
}
