/** DescribeTopics (api 75): effective config and per-partition offsets and sizes. */
import type { Api, PartitionDescription } from '../protocol/api.js';
import { topicNameProblem } from '../topic-name.js';
import { errorOf } from './wire-error.js';
import type { Handler } from './handler.js';
import { mayDescribeTopic } from './authorize.js';

export const handleDescribeTopics: Handler<typeof Api.DescribeTopics> = async (ctx, req, scope) => {
  const topics = req.topics.map((name) => {
    // A topic the principal may not describe is answered as a missing one (docs/security.md).
    const info = mayDescribeTopic(ctx, scope, name) ? ctx.logs.topic(name) : undefined;
    if (!info) {
      const problem = topicNameProblem(name);
      return { name, error: problem ? errorOf('INVALID_TOPIC', problem) : errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${name}'`), config: {}, partitions: [] };
    }
    const partitions: PartitionDescription[] = [];
    for (let p = 0; p < info.partitions; p++) {
      const log = ctx.logs.log(name, p);
      if (!log) continue;
      const s = log.stats();
      partitions.push({ partition: p, logStartOffset: s.logStartOffset, highWatermark: s.logEndOffset, sizeBytes: s.sizeBytes, segmentCount: s.segmentCount });
    }
    return { name, config: { ...ctx.config.log, ...info.config }, partitions };
  });
  return { id: req.id, topics };
};
