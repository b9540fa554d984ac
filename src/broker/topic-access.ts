/**
 * Resolving a (topic, partition) a request names into an open log, with the checks every
 * data api shares: the name must be legal (so a hostile name like `../etc` never reaches
 * storage) and the partition must exist. Known topics skip the name check: they were
 * checked when created.
 */
import type { PartitionLog } from '../storage/types.js';
import { topicNameProblem } from '../topic-name.js';
import type { WireError } from '../protocol/errors.js';
import type { BrokerContext } from './context.js';
import { errorOf } from './wire-error.js';

export type Resolved = { log: PartitionLog; error?: undefined } | { log?: undefined; error: WireError };

export function resolveLog(ctx: BrokerContext, topic: string, partition: number): Resolved {
  const log = ctx.logs.log(topic, partition);
  if (log) return { log };
  const problem = topicNameProblem(topic);
  if (problem) return { error: errorOf('INVALID_TOPIC', problem) };
  const info = ctx.logs.topic(topic);
  if (info && ctx.cluster && partition >= 0 && partition < info.partitions) {
    return { error: errorOf('NOT_LEADER_OR_FOLLOWER', `broker ${ctx.cluster.nodeId} holds no replica of ${topic}-${partition}; refresh metadata`) };
  }
  return {
    error: errorOf('UNKNOWN_TOPIC_OR_PARTITION', info ? `topic '${topic}' has no partition ${partition} (it has ${info.partitions})` : `unknown topic '${topic}'`),
  };
}
