/**
 * The check every read makes of each batch it serves or walks past: only what the 61-byte
 * header can tell, a handful of integer compares per batch and no look at the records.
 * Stored batches passed their CRC on append, so what a read has to catch is damage since
 * then that would mislead a consumer: a flipped base offset (the consumer's position jumps
 * or stalls), a bad length (garbage served as a batch, or a read past the segment), a bad
 * last offset delta.
 *
 * The CRC (`crcFault`) costs a pass over the bytes (~4 GB/s here), so a segment checks it
 * once per byte per open, only for bytes that were on disk when it was opened and were not
 * scanned by recovery (segment.ts, `crcCheckedTo`): bytes appended since passed their CRC on
 * append. A replay of data written by the running broker pays nothing; the first replay
 * after a clean restart pays one CRC pass. `sluice topic verify` checks every CRC on disk
 * on demand (verify.ts).
 */
import {
  BASE_OFFSET, BATCH_LENGTH, CRC, CURRENT_MAGIC, HEADER_SIZE, LAST_OFFSET_DELTA, LOG_OVERHEAD, MAGIC, computeCrc, readInt64,
} from '../record/index.js';

/**
 * What is wrong with the header at `buf[off]` (at least HEADER_SIZE bytes present), or null.
 * `bytesLeft`: segment bytes from this batch's start to the segment's end; `expected`: the
 * offset this batch must start at (the index entry's, or the previous batch's last + 1);
 * `endOffset`: the segment's next offset, which no record in it may reach.
 */
export function headerFault(buf: Buffer, off: number, bytesLeft: number, expected: number, endOffset: number): string | null {
  const size = buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD;
  if (size < HEADER_SIZE) return `batch length ${size} is shorter than the ${HEADER_SIZE}-byte header`;
  if (size > bytesLeft) return `batch length ${size} runs past the segment end (${bytesLeft} bytes left)`;
  const base = readInt64(buf, off + BASE_OFFSET);
  if (base !== expected) return `base offset ${base}, expected ${expected}`;
  const delta = buf.readInt32BE(off + LAST_OFFSET_DELTA);
  if (delta < 0 || base + delta >= endOffset) return `last offset delta ${delta} does not fit the segment (it ends before offset ${endOffset})`;
  const magic = buf.readInt8(off + MAGIC);
  if (magic !== CURRENT_MAGIC) return `magic ${magic}, expected ${CURRENT_MAGIC}`;
  return null;
}

/** The stored and computed CRC-32C when they differ (whole batch of `size` bytes at `buf[off]`), or null. */
export function crcFault(buf: Buffer, off: number, size: number): string | null {
  const stored = buf.readUInt32BE(off + CRC);
  const computed = computeCrc(buf, off, size);
  return stored === computed ? null : `CRC-32C stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}`;
}
