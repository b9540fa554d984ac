/**
 * ShareCancel (api 1110): an admin cancels jobs of a share group on one topic, by offset (of
 * one partition) or by key (every record with that key not yet settled). A job not yet taken
 * is never delivered; one a worker holds is settled as cancelled (not redelivered, not
 * dead-lettered) and its worker is told at once by a push on the connection it works on:
 *
 *   frame: { id: 0, push: 'share-cancel', groupId, workerId, topic, partition, offsets }
 *
 * (docs/protocol.md, "Unsolicited frames"). The push is a courtesy, not the guarantee: the
 * cancel is durable in the share state log before the answer, and a worker that missed the
 * push is refused (INVALID_RECORD_STATE, "cancelled") when it settles or extends the job.
 *
 * By key the broker reads the partition from the group's position to the end it may hand
 * out, at most maxWindow records (a record further on cannot be tracked yet; `searchedTo`
 * says where the search stopped), and matches record keys byte for byte.
 *
 * Partitions are read where acquires read them (job-source.ts): the local replica in sync, or
 * in a cluster the partition's leader, so a coordinator with no replica of a partition
 * cancels its jobs too.
 */
import type { Api, ShareCancelPartitionResult } from '../protocol/api.js';
import { UnknownTopicError } from '../storage/errors.js';
import { decodeBatches } from '../record/index.js';
import type { PartitionSource } from '../queue/share-coordinator.js';
import { UnknownShareGroupError } from '../queue/errors.js';
import { jobSource } from './job-source.js';
import { shareServiceFor } from './share-coordinators.js';
import { shareTopicPartitions } from './share-topic.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleShareCancel: Handler<typeof Api.ShareCancel> = async (ctx, req) => {
  const { groupId, topic } = req;
  const partitions = shareTopicPartitions(ctx, topic);
  if (req.partition !== undefined && req.partition >= partitions) throw new UnknownTopicError(topic, req.partition);
  const svc = shareServiceFor(ctx, groupId);
  if (!svc.coord.group(groupId)) throw new UnknownShareGroupError(groupId);
  const numbers = req.partition !== undefined ? [req.partition] : Array.from({ length: partitions }, (_, i) => i);

  const plans: { source: PartitionSource; offsets: number[]; searchedTo?: number }[] = [];
  const out: ShareCancelPartitionResult[] = [];
  const jobs = jobSource(ctx);
  for (const partition of numbers) {
    try {
      let source = await jobs.source(topic, partition);
      if (!source) {
        out.push({ topic, partition, error: errorOf('NOT_LEADER_OR_FOLLOWER', `${topic}-${partition} cannot be read by the group's coordinator now`), cancelled: [], skipped: [] });
        continue;
      }
      if (req.offsets) {
        // An offset past the end known here may be a job just produced at a remote leader
        // (its end reaches this broker with the next long poll): ask the leader before the
        // coordinator skips it as not written yet (CI: a cancel right after the produce
        // answered cancelled nothing).
        if (req.offsets.some((o) => o >= source!.logEndOffset)) {
          const end = await jobs.leaderEnd(topic, partition);
          if (end !== undefined && end > source.logEndOffset) source = { ...source, logEndOffset: end };
        }
        plans.push({ source, offsets: req.offsets });
        continue;
      }
      const start = svc.coord.group(groupId)?.existing(topic, partition)?.startOffset ?? source.logStartOffset;
      const to = Math.min(source.logEndOffset, start + (svc.coord.group(groupId)?.config.maxWindow ?? 0));
      const read = (offset: number) => jobs.readBatches(topic, partition, offset, to - 1);
      plans.push({ source, offsets: await offsetsWithKey(read, Math.max(start, source.logStartOffset), to, req.key!), searchedTo: to });
    } catch (err) {
      // The leader moving or its link down: that partition fails (retriable), the others go on.
      out.push({ topic, partition, error: wireError(err, ctx.log, { api: 'ShareCancel', group: groupId, topic, partition }), cancelled: [], skipped: [] });
    }
  }
  // Applied in one synchronous step after the reads: the coordinator checks each offset's
  // state now (a record settled during the search is skipped as settled).
  const notify: { workerId: string; partition: number; offsets: number[] }[] = [];
  for (const plan of plans) {
    const r = svc.coord.cancel(groupId, plan.source, plan.offsets);
    out.push({ ...r, ...(plan.searchedTo !== undefined && { searchedTo: plan.searchedTo }) });
    const byWorker = new Map<string, number[]>();
    for (const c of r.cancelled) if (c.workerId !== undefined) byWorker.set(c.workerId, [...(byWorker.get(c.workerId) ?? []), c.offset]);
    for (const [workerId, offsets] of byWorker) notify.push({ workerId, partition: plan.source.partition, offsets });
  }
  out.sort((a, b) => a.partition - b.partition);
  const n = out.reduce((s, p) => s + p.cancelled.length, 0);
  // Committed (durably) even when nothing was cancelled: "already settled" is read from memory,
  // and an ack applied there may still be on its way to the log. Waiting for the durable write
  // means the answer never reports a state a failed write (and the reload after it) takes back;
  // a dropped or failed service answers NOT_COORDINATOR instead and the client retries.
  await svc.commit([], true);
  if (n > 0) {
    for (const w of notify) svc.pushCancel(groupId, w.workerId, topic, w.partition, w.offsets);
    ctx.log.info('share jobs cancelled', { group: groupId, topic, records: n, held: notify.reduce((s, w) => s + w.offsets.length, 0) });
  }
  return { id: req.id, partitions: out };
};

/** Offsets in [from, to) whose record key is `key`; `read` gives the stored batches from an offset on. */
async function offsetsWithKey(read: (offset: number) => Promise<Buffer>, from: number, to: number, key: Uint8Array): Promise<number[]> {
  const out: number[] = [];
  const want = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  let offset = from;
  while (offset < to) {
    const bytes = await read(offset);
    if (bytes.length === 0) break;
    let next = offset;
    for (const b of decodeBatches(bytes)) {
      for (const r of b.records) {
        if (r.offset >= offset && r.offset < to && r.key !== null && want.equals(r.key)) out.push(r.offset);
        next = Math.max(next, r.offset + 1);
      }
      next = Math.max(next, b.header.baseOffset + b.header.lastOffsetDelta + 1);
    }
    if (next <= offset) break; // no whole batch: nothing more to read
    offset = next;
  }
  return out;
}
