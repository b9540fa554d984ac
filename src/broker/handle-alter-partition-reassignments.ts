/**
 * AlterPartitionReassignments (api 45), cluster mode: each partition's reassignment is
 * started (or, without replicas, version 1, cancelled) by the controller (this broker's, or forwarded to it, as CreateTopics is) and
 * answered once etcd holds it; the controller's passes carry it on (docs/cluster.md,
 * "Moving data between brokers"). A single broker has nothing to move replicas to.
 */
import type { Api, AlterPartitionReassignmentsResponse } from '../protocol/api.js';
import { isLocalInternalTopicName } from '../topic-name.js';
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
    if (isLocalInternalTopicName(topic)) {
      // Each broker's own logs (generation logs, single-node state): nothing in etcd to move.
      // The replicated internal topics (__consumer_offsets, __share_state) move like any topic.
      partitions.push({ ...at, error: errorOf('UNKNOWN_TOPIC_OR_PARTITION', `'${topic}' is an internal topic kept on each broker: it has no replicas to move`) });
      continue;
    }
    try {
      if (replicas === undefined) {
        if (req.version < 1) {
          partitions.push({ ...at, error: errorOf('INVALID_REPLICA_ASSIGNMENT', `${topic}-${partition}: no replica list (cancelling a reassignment needs version 1)`) });
          continue;
        }
        await ctx.cluster.cancelReassignment(topic, partition);
        ctx.log.info('partition reassignment cancelled', { topic, partition });
      } else {
        await ctx.cluster.reassign({ topic, partition, replicas });
        ctx.log.info('partition reassignment started', { topic, partition, replicas });
      }
      partitions.push(at);
    } catch (err) {
      partitions.push({ ...at, error: wireError(err, ctx.log, at) });
    }
  }
  return { id: req.id, partitions };
};
