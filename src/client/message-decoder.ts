/**
 * Fetched bytes -> Message objects, for the consumer's hot loop. Like record/decoder.ts
 * (same layout, see record/encoder.ts) but builds the final Message directly, with topic
 * and partition, so each record costs one object instead of two, and skips records below
 * the offset the fetch asked for (a fetch returns whole batches, so the first batch may
 * start before the requested offset).
 */
import { CorruptBatchError } from '../errors.js';
import {
  BASE_OFFSET, BASE_TIMESTAMP, LAST_OFFSET_DELTA, RECORD_COUNT, RECORDS, batchSizeAt, readInt64, validateBatch,
} from '../record/index.js';
import type { Message } from './types.js';

const NO_HEADERS: Message['headers'] = [];

/**
 * Offset after the last whole batch in `buf` (where the next fetch starts), or -1 when
 * `buf` holds no whole batch. Reads batch headers only.
 */
export function nextOffsetAfter(buf: Buffer): number {
  let pos = 0;
  let next = -1;
  for (;;) {
    const size = batchSizeAt(buf, pos);
    if (size < RECORDS || pos + size > buf.length) return next;
    next = readInt64(buf, pos + BASE_OFFSET) + buf.readInt32BE(pos + LAST_OFFSET_DELTA) + 1;
    pos += size;
  }
}

// Zig-zag varint reader over a module-level cursor: avoids a cursor object per call.
let cur = 0;
function varint(buf: Buffer, end: number): number {
  if (cur >= end) throw new RangeError('varint runs past the end of its record');
  let b = buf[cur++];
  if (b < 0x80) return (b & 1) === 0 ? b >>> 1 : -((b + 1) >>> 1); // one byte: the common case
  let z = b & 0x7f;
  let mul = 128;
  for (let i = 1; i < 10; i++) {
    if (cur >= end) throw new RangeError('varint runs past the end of its record');
    b = buf[cur++];
    z += (b & 0x7f) * mul;
    // zig-zag without 32-bit ops: values may pass 2^31 (timestamp deltas)
    if (b < 0x80) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    mul *= 128;
  }
  throw new RangeError('varint longer than 10 bytes');
}

function bytes(buf: Buffer, end: number): Buffer | null {
  const len = varint(buf, end);
  if (len < 0) return null;
  const start = cur;
  if (start + len > end) throw new RangeError('field runs past the end of its record');
  cur = start + len;
  return buf.subarray(start, cur);
}

/**
 * Appends to `out` every record of the whole batches in `buf` with offset >= `minOffset`.
 * Each batch's CRC is checked first; a bad batch throws CorruptBatchError (nothing of it
 * is returned). A trailing partial batch is ignored.
 */
export function decodeMessages(buf: Buffer, topic: string, partition: number, minOffset: number, out: Message[]): void {
  let pos = 0;
  for (;;) {
    const size = batchSizeAt(buf, pos);
    if (size < 0 || pos + size > buf.length) return;
    validateBatch(buf, pos, pos + size);
    const end = pos + size;
    const baseOffset = readInt64(buf, pos + BASE_OFFSET);
    const lastOffset = baseOffset + buf.readInt32BE(pos + LAST_OFFSET_DELTA);
    if (lastOffset >= minOffset) {
      const baseTs = readInt64(buf, pos + BASE_TIMESTAMP);
      const count = buf.readInt32BE(pos + RECORD_COUNT);
      cur = pos + RECORDS;
      try {
        for (let i = 0; i < count; i++) {
          const len = varint(buf, end);
          const recEnd = cur + len;
          if (len < 0 || recEnd > end) throw new RangeError(`record ${i} length ${len} runs past the batch`);
          cur++; // attributes
          const timestamp = baseTs + varint(buf, recEnd);
          const offset = baseOffset + varint(buf, recEnd);
          const key = bytes(buf, recEnd);
          const value = bytes(buf, recEnd);
          const hCount = varint(buf, recEnd);
          let headers = NO_HEADERS;
          if (hCount > 0) {
            headers = new Array(hCount);
            for (let h = 0; h < hCount; h++) {
              const k = bytes(buf, recEnd);
              headers[h] = { key: k ? k.toString('utf8') : '', value: bytes(buf, recEnd) };
            }
          }
          if (cur !== recEnd) throw new RangeError(`record ${i} has ${recEnd - cur} unread bytes`);
          if (offset >= minOffset) out.push({ topic, partition, offset, timestamp, key, value, headers });
        }
      } catch (err) {
        if (err instanceof RangeError) throw new CorruptBatchError(`${topic}/${partition} batch at offset ${baseOffset}: ${err.message}`, pos);
        throw err;
      }
    }
    pos = end;
  }
}

/**
 * End of the longest run of whole batches from the start of `buf` that fits in `maxBytes`
 * (at least one batch, so a big batch still goes through); `buf.length` when all of it fits
 * or the rest is not whole batches.
 */
export function wholeBatchesWithin(buf: Buffer, maxBytes: number): number {
  if (buf.length <= maxBytes) return buf.length;
  let pos = 0;
  for (;;) {
    const size = batchSizeAt(buf, pos);
    if (size < RECORDS || pos + size > buf.length) return buf.length;
    if (pos > 0 && pos + size > maxBytes) return pos;
    pos += size;
    if (pos >= buf.length) return buf.length;
  }
}
