/**
 * AlterPartitionReassignments (api 45), cluster mode: each partition's reassignment is
 * started by the controller (this broker's, or forwarded to it, as CreateTopics is) and
 * answered once etcd holds it; the controller's passes carry it on (docs/cluster.md,
 * "Moving data between brokers"). A single broker has nothing to move replicas to.
 */
import type { Api, AlterPartitionReassignmentsResponse } from '../protocol/api.js';
import { isInternalTopicName } from '../topic-name.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleAlterPartitionReassignments: Handler<typeof Api.AlterPartitionReassignments> = async (ctx, req) => {
  const partitions: AlterPartitionReassignmentsResponse['partitions'] = [];
  for (const { topic, partition, replicas } of req.partitions) {
    const at = { topic, partition };
    if (ctx.cluster === undefined) {
      partitions.push({ ...at, error: errorOf('INVALID_REPLICA_ASSIGNMENT', 'a single broker holds every replica: reassignment needs cluster mode (the etcd setting)') });
      continue;
    }
    if (isInternalTopicName(topic)) {
      // Internal topics are each broker's own (docs/cluster.md): nothing in etcd to move.
      partitions.push({ ...at, error: errorOf('UNKNOWN_TOPIC_OR_PARTITION', `'${topic}' is an internal topic, kept on each broker: it has no replicas to move`) });
      continue;
    }
    try {
      await ctx.cluster.reassign({ topic, partition, replicas });
      ctx.log.info('partition reassignment started', { topic, partition, replicas });
      partitions.push(at);
    } catch (err) {
      partitions.push({ ...at, error: wireError(err, ctx.log, at) });
    }
  }
  return { id: req.id, partitions };
};
