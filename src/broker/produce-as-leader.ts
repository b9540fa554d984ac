/**
 * Produce in cluster mode (docs/cluster.md, "Replication"): only the partition's leader
 * appends, and only while its etcd session is valid (a broker cut off from etcd stops
 * acknowledging within the lease TTL: the controller may already have elected another
 * leader); anything else is NOT_LEADER_OR_FOLLOWER, and the client refreshes metadata.
 *
 *   acks 1   answered after the leader's append, stamped with its leader epoch
 *   acks -1  refused with NOT_ENOUGH_REPLICAS, without appending, while the ISR is smaller
 *            than the topic's minInsyncReplicas; else appended (durable locally, as on a
 *            single broker) and then parked in the purgatory (Kafka's DelayedProduce) until
 *            the high watermark passes the batch (answered), the ISR falls below
 *            minInsyncReplicas (NOT_ENOUGH_REPLICAS_AFTER_APPEND), this broker stops leading
 *            (NOT_LEADER_OR_FOLLOWER) or the request's timeoutMs passes (REQUEST_TIMED_OUT).
 *            It is woken by high watermark moves and role changes (ReplicaManager's hook).
 *
 * An append wakes parked replica fetches (followers at the log end), not consumer fetches:
 * those are served below the high watermark and wait for it to move.
 */
import type { ProducePartitionResult } from '../protocol/api.js';
import { DEFAULT_PRODUCE_TIMEOUT_MS } from '../protocol/limits.js';
import { Leadership, type ReplicaManager } from '../replication/replica-manager.js';
import type { BrokerContext, RequestScope } from './context.js';
import { partitionKey, replicaFetchKey } from './purgatory.js';
import { errorOf, wireError } from './wire-error.js';

export async function produceAsLeader(
  ctx: BrokerContext, rm: ReplicaManager, topic: string, partition: number, records: Buffer, acks: number,
  timeoutMs: number | undefined, scope: RequestScope | undefined,
): Promise<ProducePartitionResult> {
  const l = rm.leaderFor(topic, partition, undefined, true);
  if (!(l instanceof Leadership)) return { topic, partition, error: errorOf(l.error, l.message) };
  if (acks === -1) {
    const early = rm.acksAll(l, Number.MAX_SAFE_INTEGER);
    if (early === 'not-enough-replicas') return notEnough(l, 'NOT_ENOUGH_REPLICAS', 'not appended');
  }
  let lastOffset: number;
  let baseOffset: number;
  try {
    const res = await rm.append(l, records, acks === -1);
    baseOffset = res.baseOffset;
    lastOffset = res.lastOffset;
    if (res.duplicate !== true) ctx.metrics.produced(topic, res.lastOffset - res.baseOffset + 1, records.length);
  } catch (err) {
    return { topic, partition, error: wireError(err, ctx.log, { topic, partition }) };
  }
  ctx.delayed.wake(replicaFetchKey(topic, partition));
  if (acks !== -1) return { topic, partition, baseOffset };
  const answer = (state: ReturnType<ReplicaManager['acksAll']>): ProducePartitionResult | undefined => {
    if (state === 'done') return { topic, partition, baseOffset };
    if (state === 'not-enough-replicas') return notEnough(l, 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', `appended at ${baseOffset}, not replicated`);
    if (state === 'not-leader') {
      return { topic, partition, error: errorOf('NOT_LEADER_OR_FOLLOWER', `broker ${rm.nodeId} stopped leading ${topic}-${partition} (epoch ${l.leaderEpoch}) before the in-sync replicas had offset ${lastOffset}`) };
    }
    return undefined;
  };
  const first = answer(rm.acksAll(l, lastOffset));
  if (first !== undefined) return first;
  const out = await ctx.delayed.watch<ProducePartitionResult>({
    tryComplete: () => Promise.resolve(answer(rm.acksAll(l, lastOffset))),
    onExpire: () => answer(rm.acksAll(l, lastOffset)) ?? {
      topic, partition,
      error: errorOf('REQUEST_TIMED_OUT', `appended at ${baseOffset}; the in-sync replicas did not all have it within ${timeoutMs ?? DEFAULT_PRODUCE_TIMEOUT_MS} ms`),
    },
  }, { kind: 'produce', keys: [partitionKey(topic, partition)], timeoutMs: timeoutMs ?? DEFAULT_PRODUCE_TIMEOUT_MS, scope });
  // undefined: the connection closed, and no one reads the answer.
  return out ?? { topic, partition, error: errorOf('REQUEST_TIMED_OUT', 'the connection closed') };
}

function notEnough(l: Leadership, name: 'NOT_ENOUGH_REPLICAS' | 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', what: string): ProducePartitionResult {
  return {
    topic: l.topic, partition: l.partition,
    error: errorOf(name, `${l.topic}-${l.partition} has ${l.progress.isr.length} in-sync replicas (${l.progress.isr.join(', ')}), fewer than minInsyncReplicas; ${what}`),
  };
}
