/**
 * Produce (api 0). Per partition: check the record set's size against maxBatchBytes, then
 * hand the bytes to storage, which validates every batch (length, magic, CRC-32C, and that
 * the header matches its records: src/record/validate-records.ts walks their varint
 * lengths), stamps base offsets in place and appends. No record object is built. Partitions are
 * appended concurrently and fail independently.
 *
 *   acks 0   no response at all (the connection still counts it in flight until stored)
 *   acks 1   answered after the append is in the log (page cache)
 *   acks -1  answered after the append is fsynced (storage group-commits concurrent ones)
 *
 * In cluster mode (ctx.replicas set) only the partition's leader appends, and acks -1 also
 * waits for the in-sync replicas: produce-as-leader.ts.
 *
 * Idempotent producers: storage checks each batch's producer id and sequence in the append
 * queue (partition-log.ts); a retry of a stored batch is answered with its first offsets,
 * a bad sequence with OUT_OF_ORDER_SEQUENCE_NUMBER / INVALID_PRODUCER_EPOCH / UNKNOWN_PRODUCER_ID.
 *
 * Authorization (auth scram, docs/security.md): write on the topic, checked before anything
 * else (an internal topic is refused so even for a super user); a topic created on first
 * produce also needs create on it or on the cluster, else it is answered as missing.
 *
 * Metrics: per partition, records (from the append's offsets, not by decoding) and bytes
 * on success (not for a duplicate), or the error name on failure.
 */
import type { ProducePartitionResult } from '../protocol/api.js';
import { isInternalTopicName, topicNameProblem } from '../topic-name.js';
import type { BrokerContext, RequestScope } from './context.js';
import { resolveLog } from './topic-access.js';
import { errorOf, wireError } from './wire-error.js';
import { ensureTopic } from './auto-create.js';
import { errorName } from '../protocol/errors.js';
import { produceAsLeader } from './produce-as-leader.js';
import type { Api } from '../protocol/api.js';
import type { Handler } from './handler.js';
import { topicRefusal } from './authorize.js';

export const handleProduce: Handler<typeof Api.Produce> = async (ctx, req, scope) => {
  const parts = req.partitions;
  const results = await Promise.all(parts.map((p) => produceOne(ctx, p.topic, p.partition, p.records as Buffer, req.acks, req.timeoutMs, scope)));
  for (let i = 0; i < results.length; i++) {
    const e = results[i].error;
    if (e) ctx.metrics.partitionError('Produce', errorName(e.code));
  }
  return req.acks === 0 ? undefined : { id: req.id, partitions: results };
};

/** Creates `topic` on first produce; the partition's error answer when that failed. */
async function autoCreate(ctx: BrokerContext, topic: string, partition: number): Promise<ProducePartitionResult | undefined> {
  try {
    await ensureTopic(ctx, topic);
    return undefined;
  } catch (err) {
    return { topic, partition, error: wireError(err, ctx.log, { topic }) };
  }
}

async function produceOne(
  ctx: BrokerContext, topic: string, partition: number, records: Buffer, acks: number, timeoutMs: number | undefined, scope: RequestScope | undefined,
): Promise<ProducePartitionResult> {
  if (records.length > ctx.config.maxBatchBytes) {
    return { topic, partition, error: errorOf('MESSAGE_TOO_LARGE', `record set of ${records.length} bytes exceeds maxBatchBytes ${ctx.config.maxBatchBytes}`) };
  }
  const denied = topicRefusal(ctx, scope, 'write', topic);
  if (denied !== undefined) return { topic, partition, error: denied };
  if (isInternalTopicName(topic)) return { topic, partition, error: errorOf('INVALID_TOPIC', `'${topic}' is an internal topic; only the broker writes to it`) };
  // Controlled shutdown (cluster mode): leaderships are moving away; the client finds the new leader.
  if (ctx.cluster?.leaving) return { topic, partition, error: errorOf('NOT_LEADER_OR_FOLLOWER', 'this broker is shutting down; its leaderships are moving to other brokers') };
  // Cluster mode: the leader's path (produce-as-leader.ts). Auto-create goes through the
  // controller (the log manager forwards it) and answers once this broker's view has the
  // topic; the leader may be another broker, which the client then learns from Metadata.
  if (ctx.replicas !== undefined) {
    if (mayAutoCreate(ctx, topic, scope)) {
      const failed = await autoCreate(ctx, topic, partition);
      if (failed) return failed;
    }
    return produceAsLeader(ctx, ctx.replicas, topic, partition, records, acks, timeoutMs, scope);
  }
  let r = resolveLog(ctx, topic, partition);
  if (r.error && mayAutoCreate(ctx, topic, scope)) {
    const failed = await autoCreate(ctx, topic, partition);
    if (failed) return failed;
    r = resolveLog(ctx, topic, partition);
  }
  if (r.error) return { topic, partition, error: r.error };
  try {
    const res = await r.log.append(records, acks === -1 ? DURABLE : undefined);
    ctx.delayed.wakePartition(topic, partition);
    // A duplicate (an idempotent producer's retry) was answered, not stored again: not counted twice.
    if (res.duplicate !== true) ctx.metrics.produced(topic, res.lastOffset - res.baseOffset + 1, records.length);
    return { topic, partition, baseOffset: res.baseOffset };
  } catch (err) {
    return { topic, partition, error: wireError(err, ctx.log, { topic, partition }) };
  }
}

const DURABLE = Object.freeze({ durable: true });

/** Whether a produce to `topic` creates it: autoCreateTopics, a legal name not yet a topic, and (auth scram) create on it or the cluster. */
function mayAutoCreate(ctx: BrokerContext, topic: string, scope: RequestScope | undefined): boolean {
  return ctx.config.autoCreateTopics && !ctx.logs.topic(topic) && !topicNameProblem(topic) && topicRefusal(ctx, scope, 'create', topic, true) === undefined;
}
