/**
 * ListOffsets (api 2): EARLIEST (-2) -> log start, LATEST (-1) -> log end, otherwise the
 * first offset whose batch has a timestamp >= the given one (log end when none has).
 * In cluster mode only the partition's leader answers, with the high watermark where a single
 * broker says log end: a consumer is never pointed past what it may read. A leader whose high
 * watermark has not reached the start of its epoch yet answers LATEST (and a timestamp found at
 * or past it) with OFFSET_NOT_AVAILABLE, retriable, as Kafka does since KIP-207: its high
 * watermark may still be below what the previous leader answered, and LATEST must not go back.
 */
import { EARLIEST, LATEST, type ListOffsetsResponse } from '../protocol/api.js';
import type { BrokerContext } from './context.js';
import { resolveLog } from './topic-access.js';
import { errorOf, wireError } from './wire-error.js';
import { Leadership, type ReplicaManager } from '../replication/replica-manager.js';
import type { Api } from '../protocol/api.js';
import type { Handler } from './handler.js';
import { topicRefusal } from './authorize.js';

export const handleListOffsets: Handler<typeof Api.ListOffsets> = async (ctx, req, scope) => {
  const rm = ctx.replicas;
  const partitions = await Promise.all(req.partitions.map(async ({ topic, partition, timestamp }) => {
    const denied = topicRefusal(ctx, scope, 'read', topic);
    if (denied !== undefined) return { topic, partition, error: denied, offset: -1 };
    if (rm !== undefined) return listAsLeader(ctx, rm, topic, partition, timestamp);
    const r = resolveLog(ctx, topic, partition);
    if (r.error) return { topic, partition, error: r.error, offset: -1 };
    try {
      const offset = timestamp === EARLIEST ? r.log.logStartOffset
        : timestamp === LATEST ? r.log.logEndOffset
        : (await r.log.offsetForTimestamp(timestamp)) ?? r.log.logEndOffset;
      return { topic, partition, offset };
    } catch (err) {
      return { topic, partition, error: wireError(err, ctx.log, { topic, partition }), offset: -1 };
    }
  }));
  return { id: req.id, partitions };
};

/** Cluster mode: the leader answers, and nothing at or past the high watermark is visible (LATEST is the high watermark). */
async function listAsLeader(ctx: BrokerContext, rm: ReplicaManager, topic: string, partition: number, timestamp: number): Promise<ListOffsetsResponse['partitions'][number]> {
  const l = rm.leaderFor(topic, partition);
  if (!(l instanceof Leadership)) return { topic, partition, error: errorOf(l.error, l.message), offset: -1 };
  try {
    if (timestamp === EARLIEST) return { topic, partition, offset: l.log.logStartOffset };
    const found = timestamp === LATEST ? null : await l.log.offsetForTimestamp(timestamp);
    const hw = l.highWatermark;
    if (found !== null && found < hw) return { topic, partition, offset: found };
    if (l.progress.highWatermarkLagging) {
      const message = `the high watermark of ${topic}-${partition} (${hw}) has not reached the start of leader epoch ${l.leaderEpoch} (${l.progress.leaderEpochStartOffset}) yet; retry`;
      return { topic, partition, error: errorOf('OFFSET_NOT_AVAILABLE', message), offset: -1 };
    }
    return { topic, partition, offset: hw };
  } catch (err) {
    return { topic, partition, error: wireError(err, ctx.log, { topic, partition }), offset: -1 };
  }
}
