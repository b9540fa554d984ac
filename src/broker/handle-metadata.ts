/**
 * Metadata (api 3): every topic, or the named ones, with partition count and overrides.
 * Cluster mode adds the live brokers, the controller and, per topic, each partition's leader,
 * leader epoch, replicas and ISR, all from this broker's view of etcd, so every broker answers
 * the same once their views have caught up. A single broker leaves those fields out.
 * Internal topics are left out of the full listing; asked by name, the replicated ones
 * (`__consumer_offsets`, `__share_state`) are answered with their placement too.
 * With auth scram only topics the principal may describe are listed, and one it may not is
 * answered exactly as a missing one (docs/security.md): the answer does not tell whether it exists.
 */
import type { Api, BrokerMetadata, MetadataResponse, PartitionMetadata, TopicMetadata } from '../protocol/api.js';
import type { ClusterContext } from './cluster-context.js';
import type { PartitionState } from '../cluster/partition-state.js';
import { isInternalTopicName, isLocalInternalTopicName, topicNameProblem } from '../topic-name.js';
import { errorOf } from './wire-error.js';
import type { Handler } from './handler.js';
import { mayDescribeTopic } from './authorize.js';

export const handleMetadata: Handler<typeof Api.Metadata> = async (ctx, req, scope) => {
  // Internal topics are left out of the full listing; asking for one by exact name answers it.
  const names = req.topics ?? ctx.logs.topics().map((t) => t.name).filter((n) => !isInternalTopicName(n) && mayDescribeTopic(ctx, scope, n)).sort();
  const topics = names.map((name): TopicMetadata => {
    const info = mayDescribeTopic(ctx, scope, name) ? ctx.logs.topic(name) : undefined;
    if (info) {
      const m: TopicMetadata = { name, partitions: info.partitions, config: info.config };
      // The replicated internal topics (__consumer_offsets, __share_state) are placed like any
      // topic: their placement is answered (drain, rebalance and `topic describe` need it);
      // produce to them stays refused. Each broker's own internal logs have no placement.
      if (ctx.cluster && !isLocalInternalTopicName(name)) m.partitionInfo = partitionInfo(ctx.cluster, name, info.partitions);
      return m;
    }
    const problem = topicNameProblem(name);
    return { name, error: problem ? errorOf('INVALID_TOPIC', problem) : errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${name}'`), partitions: 0, config: {} };
  });
  const res: MetadataResponse = { id: req.id, brokerVersion: ctx.version, topics };
  if (ctx.cluster) {
    res.brokers = [...ctx.cluster.node.directory.brokers().values()]
      .map((b): BrokerMetadata => ({ nodeId: b.nodeId, url: b.url }))
      .sort((a, b) => a.nodeId - b.nodeId);
    const controllerId = ctx.cluster.controller.current;
    if (controllerId !== undefined) res.controllerId = controllerId;
  }
  return res;
};

/** Each partition's state from the view; one whose state is not written yet has no leader (-1) and no replicas. */
function partitionInfo(c: ClusterContext, topic: string, partitions: number): PartitionMetadata[] {
  const out: PartitionMetadata[] = [];
  for (let p = 0; p < partitions; p++) {
    const s = c.node.view.partition(topic, p)?.state;
    out.push(s
      ? { partition: p, leader: s.leader, leaderEpoch: s.leaderEpoch, replicas: [...s.replicas], isr: [...s.isr], ...reassigning(s) }
      : { partition: p, leader: -1, leaderEpoch: -1, replicas: [], isr: [] });
  }
  return out;
}

/** The running reassignment's fields, absent when none runs (the answer stays as it was). */
function reassigning(s: PartitionState): Pick<PartitionMetadata, 'addingReplicas' | 'removingReplicas'> {
  if (s.addingReplicas === undefined && s.removingReplicas === undefined) return {};
  return { addingReplicas: [...s.addingReplicas ?? []], removingReplicas: [...s.removingReplicas ?? []] };
}
