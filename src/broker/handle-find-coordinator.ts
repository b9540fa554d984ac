/**
 * FindCoordinator (api 10): which broker coordinates group `key` (docs/cluster.md,
 * "Coordinators"). Any broker answers.
 *
 *   single broker  nodeId -1, no url: it coordinates every group itself
 *   cluster        the leader of partition coordinatorPartition(key, N) of the coordinator
 *                  topic of the key type (`__consumer_offsets` for keyType 'group', the
 *                  default; `__share_state` for 'share', share groups of queue mode; N: the
 *                  topic's partition count in etcd), by node id and advertised URL;
 *                  COORDINATOR_NOT_AVAILABLE (retriable) while that partition has no live
 *                  leader, or while the topic is being created
 *
 * The topic is created the first time a group needs it: the controller creates it
 * (replication factor min(3, live brokers), minInsyncReplicas by the topic default: 2 from a
 * factor of 3); any other broker forwards this FindCoordinator to the controller, which
 * creates it and answers. Internal topics are refused in CreateTopics, so this is the only
 * way it comes to exist.
 */
import { Api, type FindCoordinatorResponse } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import { coordinatorPartition, COORDINATOR_PARTITIONS } from '../group/coordinator-partition.js';
import { SluiceError } from '../errors.js';
import { STATE_LOG_TOPIC_CONFIG } from '../state-log/generation-log.js';
import { GROUP_COORDINATOR_TOPIC, SHARE_COORDINATOR_TOPIC } from '../topic-name.js';
import type { BrokerContext } from './context.js';
import type { ClusterContext } from './cluster-context.js';
import type { Handler } from './handler.js';
import { wireError } from './wire-error.js';

export const handleFindCoordinator: Handler<typeof Api.FindCoordinator> = async (ctx, req) => {
  const c = ctx.cluster;
  if (!c) return { id: req.id, nodeId: -1 };
  const topic = req.keyType === 'share' ? SHARE_COORDINATOR_TOPIC : GROUP_COORDINATOR_TOPIC;
  try {
    if (!c.node.view.topic(topic)) {
      const forwarded = await createCoordinatorTopic(ctx, c, topic, req.key, req.keyType);
      if (forwarded) return { ...forwarded, id: req.id };
    }
    return { id: req.id, ...coordinatorOf(c, topic, req.key) };
  } catch (err) {
    return { id: req.id, nodeId: -1, error: wireError(err, ctx.log, { group: req.key }) };
  }
};

/** The live leader of `groupId`'s coordinator partition; COORDINATOR_NOT_AVAILABLE when there is none. */
function coordinatorOf(c: ClusterContext, topic: string, groupId: string): { nodeId: number; url: string } {
  const rec = c.node.view.topic(topic);
  if (!rec) throw new SluiceError('COORDINATOR_NOT_AVAILABLE', `the coordinator topic ${topic} is being created; retry`);
  const p = coordinatorPartition(groupId, rec.partitions);
  const leader = c.node.view.partition(topic, p)?.state.leader ?? -1;
  const url = leader >= 0 ? c.node.directory.brokers().get(leader)?.url : undefined;
  if (url === undefined) {
    throw new SluiceError('COORDINATOR_NOT_AVAILABLE', `coordinator partition ${topic}-${p} of group '${groupId}' has no live leader${leader >= 0 ? ` (broker ${leader} is not registered)` : ''}; retry`);
  }
  return { nodeId: leader, url };
}

/** One creation per topic at a time per broker: concurrent FindCoordinators wait for the same one. */
const creations = new WeakMap<ClusterContext, Map<string, Promise<void>>>();

/**
 * Creates the coordinator topic on the controller; on any other broker forwards the
 * FindCoordinator to the controller and returns its answer.
 */
async function createCoordinatorTopic(
  ctx: BrokerContext, c: ClusterContext, topic: string, groupId: string, keyType: 'group' | 'share' | undefined,
): Promise<FindCoordinatorResponse | undefined> {
  if (!c.node.isController) {
    const id = c.controller.current;
    if (id === undefined || id === c.nodeId) throw new SluiceError('COORDINATOR_NOT_AVAILABLE', 'no controller to create the coordinator topic; retry');
    const res = await (await c.links(id)).request(Api.FindCoordinator, { key: groupId, ...(keyType !== undefined && { keyType }) });
    if (res.error && res.error.code !== 0) throw fromWireError(res.error);
    return res;
  }
  let pending = creations.get(c);
  if (!pending) creations.set(c, (pending = new Map()));
  const inFlight = pending;
  let creating = inFlight.get(topic);
  creating ??= (async () => {
    try {
      const rf = Math.min(3, c.node.directory.brokers().size);
      await ctx.logs.createTopic(topic, COORDINATOR_PARTITIONS, STATE_LOG_TOPIC_CONFIG, { replicationFactor: rf });
      ctx.log.info('coordinator topic created', { topic, partitions: COORDINATOR_PARTITIONS, replicationFactor: rf });
    } catch (err) {
      if (!(err instanceof SluiceError && err.code === 'TOPIC_ALREADY_EXISTS')) throw err;
    } finally {
      inFlight.delete(topic);
    }
  })();
  inFlight.set(topic, creating);
  await creating;
  return undefined;
}
