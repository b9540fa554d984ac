/**
 * ListOffsets (api 2): EARLIEST (-2) -> log start, LATEST (-1) -> log end, otherwise the
 * first offset whose batch has a timestamp >= the given one (log end when none has).
 */
import { EARLIEST, LATEST, type ListOffsetsRequest, type ListOffsetsResponse } from '../protocol/api.js';
import type { BrokerContext } from './context.js';
import { resolveLog } from './topic-access.js';
import { wireError } from './wire-error.js';

export async function handleListOffsets(ctx: BrokerContext, req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
  const partitions = await Promise.all(req.partitions.map(async ({ topic, partition, timestamp }) => {
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
}
