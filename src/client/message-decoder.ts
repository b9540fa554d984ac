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
 * Builds the caller's object for one decoded record instead of a Message (QueueConsumer's
 * jobs: one object per record, not a Message copied into a Job); undefined skips the record.
 */
export type MakeRecord<T> = (offset: number, timestamp: number, key: Buffer | null, value: Buffer | null, headers: Message['headers']) => T | undefined;

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
 * Decodes one fetched buffer a piece at a time: each next() call appends at most `max`
 * records (those with offset >= `minOffset`) and returns false once the buffer's whole
 * batches are used up (a trailing partial batch is ignored).
 *
 * Why pieces smaller than a batch: the producer writes 1 MiB batches (~9,000 records of
 * 100 B), and all Message objects of one delivery, with their value views (~260 B per
 * record together), are alive while the handler runs. Each young-generation scavenge
 * copies that live set: with whole 1 MiB batches per delivery that was ~2 MB per
 * scavenge, 58 scavenges / 114 ms for a 2 M-record replay (--trace-gc).
 *
 * Each batch's CRC is checked once (native CRC-32C), when the decoder reaches the batch
 * and before any of its records is returned; a bad CRC throws CorruptBatchError. A batch
 * with a good CRC but malformed records (a producer bug) throws CorruptBatchError at the
 * bad record; records before it may have been returned. A call that already has records
 * returns them and throws on the next call, so good records are never lost to an error.
 */
export class MessageDecoder<T = Message> {
  private pos = 0; //        start of the current batch
  private end = 0; //        end of the current batch (0: no batch entered yet)
  private cursor = 0; //     next record in the current batch
  private left = 0; //       records of the current batch not yet decoded
  private index = 0; //      number of the next record within its batch (for errors)
  private baseOffset = 0;
  private baseTs = 0;
  private failure: Error | null = null; // a bad batch met after records were already handed out

  constructor(
    private readonly buf: Buffer, private readonly topic: string, private readonly partition: number, private readonly minOffset: number,
    /** Makes the object of each record; default a Message. */
    private readonly make?: MakeRecord<T>,
  ) {}

  /** Bytes of the buffer already passed (whole batches decoded or skipped, up to the current batch's start). */
  get consumed(): number {
    return this.left > 0 ? this.pos : this.end;
  }

  next(out: T[], max: number): boolean {
    const { buf, topic, partition, minOffset, make } = this;
    let n = 0;
    for (;;) {
      if (this.left === 0) {
        if (this.failure) throw this.failure;
        if (n >= max) return true;
        try {
          if (!this.enterBatch()) return false;
        } catch (err) {
          // Records already in `out` are good: they go out first, the error on the next call.
          if (n === 0) throw err;
          this.failure = err as Error;
          return true;
        }
      }
      const end = this.end;
      const baseOffset = this.baseOffset;
      const baseTs = this.baseTs;
      cur = this.cursor;
      try {
        while (this.left > 0) {
          if (n >= max) {
            this.cursor = cur;
            return true;
          }
          const len = varint(buf, end);
          const recEnd = cur + len;
          if (len < 0 || recEnd > end) throw new RangeError(`record ${this.index} length ${len} runs past the batch`);
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
          if (cur !== recEnd) throw new RangeError(`record ${this.index} has ${recEnd - cur} unread bytes`);
          this.left--;
          this.index++;
          if (offset >= minOffset) {
            if (make === undefined) {
              out.push({ topic, partition, offset, timestamp, key, value, headers } as T);
              n++;
            } else {
              const made = make(offset, timestamp, key, value, headers);
              if (made !== undefined) {
                out.push(made);
                n++;
              }
            }
          }
        }
      } catch (err) {
        const at = this.pos;
        this.left = 0;
        this.end = this.pos = buf.length; // nothing more comes out of this buffer
        const e = err instanceof RangeError ? new CorruptBatchError(`${topic}/${partition} batch at offset ${baseOffset}: ${err.message}`, at) : err as Error;
        if (n === 0) throw e;
        this.failure = e;
        return true;
      }
    }
  }

  /** Moves to the next whole batch holding records >= minOffset; false when there is none. */
  private enterBatch(): boolean {
    const buf = this.buf;
    let pos = this.end;
    for (;;) {
      const size = batchSizeAt(buf, pos);
      if (size < 0 || pos + size > buf.length) {
        this.pos = this.end = pos;
        return false;
      }
      validateBatch(buf, pos, pos + size);
      const baseOffset = readInt64(buf, pos + BASE_OFFSET);
      const lastOffset = baseOffset + buf.readInt32BE(pos + LAST_OFFSET_DELTA);
      const count = buf.readInt32BE(pos + RECORD_COUNT);
      if (lastOffset >= this.minOffset && count > 0) {
        this.pos = pos;
        this.end = pos + size;
        this.baseOffset = baseOffset;
        this.baseTs = readInt64(buf, pos + BASE_TIMESTAMP);
        this.cursor = pos + RECORDS;
        this.left = count;
        this.index = 0;
        return true;
      }
      pos += size;
    }
  }
}

/**
 * Appends to `out` every record of the whole batches in `buf` with offset >= `minOffset`
 * (a Message each, or what `make` makes of it).
 * Each batch's CRC is checked first; a bad batch throws CorruptBatchError. A trailing
 * partial batch is ignored.
 */
export function decodeMessages<T = Message>(buf: Buffer, topic: string, partition: number, minOffset: number, out: T[], make?: MakeRecord<T>): void {
  const d = new MessageDecoder<T>(buf, topic, partition, minOffset, make);
  while (d.next(out, Infinity)); // a second call only to throw an error met after good records
}
