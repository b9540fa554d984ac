/**
 * Reads the stored batches that cover an acquired offset range, for a ShareAcquire answer.
 * Like Fetch, the bytes are the stored batches (views, never re-encoded); the client keeps
 * only the records inside the acquired ranges. Batches wholly past `lastOffset` are cut off
 * so a worker that acquired 10 records is not sent a megabyte of later ones.
 */
import { batchSizeAt, lastOffsetOf, RECORDS } from '../record/index.js';
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
