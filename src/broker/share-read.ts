/**
 * Reads what a ShareAcquire answer carries: the acquired records of one partition.
 *
 * readCovering gives the stored batches that cover an offset range, as Fetch does (views,
 * never re-encoded); batches wholly past `lastOffset` are cut off so a worker that acquired
 * 10 records is not sent a megabyte of later ones. readAcquired then cuts each of those
 * batches down to the acquired records (record/batch-subset.ts): a producer's batch holds
 * ~1,000 records and an acquire takes ~30 of them, so the whole batches were 35x the
 * payload on the wire (docs/queue-performance.md, step 1). Every kept record keeps its offset
 * and timestamp; a worker's client decodes them as it decodes a fetch.
 */
import { batchSizeAt, lastOffsetOf, RECORDS, subsetBatch, type OffsetRange } from '../record/index.js';
import type { PartitionLog } from '../storage/types.js';

const EMPTY = Buffer.alloc(0);
/** One storage read; a range needing more is read in several steps. */
const READ_BYTES = 1 << 20;

export async function readCovering(log: PartitionLog, firstOffset: number, lastOffset: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = Math.max(firstOffset, log.logStartOffset);
  while (offset <= lastOffset && offset < log.logEndOffset) {
    const { bytes } = await log.read(offset, READ_BYTES);
    if (bytes.length === 0) break;
    let pos = 0;
    let next = -1;
    while (pos < bytes.length) {
      const size = batchSizeAt(bytes, pos);
      if (size < RECORDS || pos + size > bytes.length) break;
      const last = lastOffsetOf(bytes, pos);
      pos += size;
      next = last + 1;
      if (last >= lastOffset) break;
    }
    if (next < 0) break; // no whole batch: nothing more to give
    parts.push(bytes.subarray(0, pos));
    offset = next;
  }
  if (parts.length === 0) return EMPTY;
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/**
 * The records of `ranges` (sorted, as ShareCoordinator.acquire returns them) as batches
 * holding only those records. A record no longer stored (retention) is simply absent: its
 * worker cannot see it and its lock runs out, as before.
 */
export async function readAcquired(log: PartitionLog, ranges: readonly OffsetRange[]): Promise<Buffer> {
  if (ranges.length === 0) return EMPTY;
  const covering = await readCovering(log, ranges[0].firstOffset, ranges[ranges.length - 1].lastOffset);
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos < covering.length) {
    const size = batchSizeAt(covering, pos);
    if (size < RECORDS || pos + size > covering.length) break;
    const kept = subsetBatch(covering, pos, size, ranges);
    if (kept) parts.push(kept);
    pos += size;
  }
  if (parts.length === 0) return EMPTY;
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
