/**
 * Record batch layout: Kafka's RecordBatch v2 (magic 2), byte for byte, so that a later
 * Kafka-protocol listener can serve stored bytes unchanged.
 *
 *   baseOffset           i64   offset of the first record; stamped by the broker on append
 *   batchLength          i32   bytes after this field (total size - 12)
 *   partitionLeaderEpoch i32
 *   magic                i8    always 2
 *   crc                  u32   CRC-32C of ATTRIBUTES..end of batch
 *   attributes           i16   bits 0-2 compression (only 0 = none is accepted), bit 3 timestamp type
 *   lastOffsetDelta      i32   offset delta of the last record (recordCount - 1 without compaction)
 *   baseTimestamp        i64   ms since epoch of the first record
 *   maxTimestamp         i64   largest record timestamp in the batch
 *   producerId           i64   -1 when unused
 *   producerEpoch        i16   -1 when unused
 *   baseSequence         i32   -1 when unused
 *   recordCount          i32
 *   records              ...   see encoder.ts
 *
 * The broker reads this header, checks length, magic and CRC, walks the records' varint
 * lengths to check the header tells the truth about them (validate-records.ts), and
 * rewrites baseOffset (which the CRC does not cover, so stamping is free of re-hashing).
 */
import { crc32c } from '@node-rs/crc32';
import { CorruptBatchError } from '../errors.js';

export const BASE_OFFSET = 0; //                               i64
export const BATCH_LENGTH = BASE_OFFSET + 8; //                i32
export const PARTITION_LEADER_EPOCH = BATCH_LENGTH + 4; //     i32
export const MAGIC = PARTITION_LEADER_EPOCH + 4; //            i8
export const CRC = MAGIC + 1; //                               u32
export const ATTRIBUTES = CRC + 4; //                          i16
export const LAST_OFFSET_DELTA = ATTRIBUTES + 2; //            i32
export const BASE_TIMESTAMP = LAST_OFFSET_DELTA + 4; //        i64
export const MAX_TIMESTAMP = BASE_TIMESTAMP + 8; //            i64
export const PRODUCER_ID = MAX_TIMESTAMP + 8; //               i64
export const PRODUCER_EPOCH = PRODUCER_ID + 8; //              i16
export const BASE_SEQUENCE = PRODUCER_EPOCH + 2; //            i32
export const RECORD_COUNT = BASE_SEQUENCE + 4; //              i32
export const RECORDS = RECORD_COUNT + 4; //                    first record

/** Size of the fixed header; also the smallest possible batch (zero records is refused). */
export const HEADER_SIZE = RECORDS; // 61
/** Bytes before batchLength's count starts: baseOffset + batchLength. */
export const LOG_OVERHEAD = BATCH_LENGTH + 4; // 12
export const CURRENT_MAGIC = 2;
/**
 * Batches per idempotent producer a partition remembers (storage/producer-state.ts), and so
 * the most batches such a producer may have in flight per partition (client/producer.ts):
 * any retry it can send is still remembered. Kafka's max.in.flight.requests.per.connection cap.
 */
export const IDEMPOTENT_WINDOW = 5;
export const COMPRESSION_MASK = 0x07;

const TWO_32 = 0x1_0000_0000;

/**
 * Reads a signed 64-bit big-endian integer as a number; exact up to 2^53, which offsets and ms
 * timestamps never pass. Works on any Uint8Array (a Buffer or not) by indexing bytes, which is
 * what Buffer.readInt32BE does inside; no branch on the type, so the produce and fetch paths,
 * which pass Buffers, pay nothing for it.
 */
export function readInt64(buf: Uint8Array, pos: number): number {
  checkRange(buf, pos);
  const hi = (buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]; // signed
  const lo = ((buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]) >>> 0;
  return hi * TWO_32 + lo;
}

/** Writes `value` (an integer within +-2^53) as a signed 64-bit big-endian integer; any Uint8Array, as readInt64. */
export function writeInt64(buf: Uint8Array, pos: number, value: number): void {
  checkRange(buf, pos);
  const hi = Math.floor(value / TWO_32);
  const lo = value - hi * TWO_32;
  buf[pos] = hi >>> 24;
  buf[pos + 1] = hi >>> 16;
  buf[pos + 2] = hi >>> 8;
  buf[pos + 3] = hi;
  buf[pos + 4] = lo >>> 24;
  buf[pos + 5] = lo >>> 16;
  buf[pos + 6] = lo >>> 8;
  buf[pos + 7] = lo;
}

/** Indexing past the end reads undefined and drops writes: refuse it, as Buffer's methods do. */
function checkRange(buf: Uint8Array, pos: number): void {
  if (!(pos >= 0 && pos + 8 <= buf.length)) throw new RangeError(`an int64 at ${pos} does not fit in ${buf.length} bytes`);
}

/** The header fields a broker or index needs, read without decoding records. */
export interface BatchHeader {
  baseOffset: number;
  /** Total bytes of the batch including baseOffset and batchLength. */
  size: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  recordCount: number;
}

export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: readInt64(buf, pos + BASE_OFFSET),
    size: buf.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD,
    magic: buf.readInt8(pos + MAGIC),
    crc: buf.readUInt32BE(pos + CRC),
    attributes: buf.readInt16BE(pos + ATTRIBUTES),
    lastOffsetDelta: buf.readInt32BE(pos + LAST_OFFSET_DELTA),
    baseTimestamp: readInt64(buf, pos + BASE_TIMESTAMP),
    maxTimestamp: readInt64(buf, pos + MAX_TIMESTAMP),
    producerId: readInt64(buf, pos + PRODUCER_ID),
    recordCount: buf.readInt32BE(pos + RECORD_COUNT),
  };
}

/** Size in bytes of the batch at `pos`, or -1 when fewer than 12 bytes remain to tell. */
export function batchSizeAt(buf: Buffer, pos: number): number {
  if (buf.length - pos < LOG_OVERHEAD) return -1;
  return buf.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD;
}

export function lastOffsetOf(buf: Buffer, pos = 0): number {
  return readInt64(buf, pos + BASE_OFFSET) + buf.readInt32BE(pos + LAST_OFFSET_DELTA);
}

export function maxTimestampOf(buf: Buffer, pos = 0): number {
  return readInt64(buf, pos + MAX_TIMESTAMP);
}

export function setBaseOffset(buf: Buffer, pos: number, baseOffset: number): void {
  writeInt64(buf, pos + BASE_OFFSET, baseOffset);
}

/** CRC-32C over attributes..end, exactly what the crc field must hold. */
export function computeCrc(buf: Buffer, pos: number, size: number): number {
  return crc32c(buf.subarray(pos + ATTRIBUTES, pos + size)) >>> 0;
}

/**
 * Checks that the bytes at `pos` hold one whole batch that arrived as written: length
 * within `end`, magic 2, CRC-32C. Returns its size. Throws CorruptBatchError naming what
 * is wrong (for a CRC, both the stored and the computed value, so a report tells a torn
 * write from a flipped bit). Says nothing about whether the header tells the truth about
 * the records; see validateBatch and validate-records.ts for that.
 */
export function checkBatchFrame(buf: Buffer, pos = 0, end = buf.length): number {
  const avail = end - pos;
  if (avail < HEADER_SIZE) throw new CorruptBatchError(`batch at ${pos}: ${avail} bytes, shorter than the ${HEADER_SIZE}-byte header`, pos);
  const size = buf.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD;
  if (size < HEADER_SIZE) throw new CorruptBatchError(`batch at ${pos}: length ${size} is shorter than the header`, pos);
  if (size > avail) throw new CorruptBatchError(`batch at ${pos}: length ${size} runs past the ${avail} bytes present`, pos);
  const magic = buf.readInt8(pos + MAGIC);
  if (magic !== CURRENT_MAGIC) throw new CorruptBatchError(`batch at ${pos}: magic ${magic}, expected ${CURRENT_MAGIC}`, pos);
  const stored = buf.readUInt32BE(pos + CRC);
  const computed = computeCrc(buf, pos, size);
  if (stored !== computed) {
    throw new CorruptBatchError(`batch at ${pos}: CRC-32C stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}`, pos);
  }
  return size;
}

/**
 * checkBatchFrame plus the header checks a stored batch must pass (recovery, fetch
 * decoding): at least one record, uncompressed, and a last offset delta no smaller than
 * count - 1. That last rule is the lenient one Kafka applies to stored (possibly
 * compacted) batches; a batch from a producer must also pass validateBatches
 * (validate-records.ts), which requires delta == count - 1 and walks the records.
 */
export function validateBatch(buf: Buffer, pos = 0, end = buf.length): number {
  const size = checkBatchFrame(buf, pos, end);
  const count = buf.readInt32BE(pos + RECORD_COUNT);
  const lastDelta = buf.readInt32BE(pos + LAST_OFFSET_DELTA);
  if (count <= 0 || lastDelta < count - 1) {
    throw new CorruptBatchError(`batch at ${pos}: record count ${count} with last offset delta ${lastDelta}`, pos);
  }
  if ((buf.readInt16BE(pos + ATTRIBUTES) & COMPRESSION_MASK) !== 0) {
    throw new CorruptBatchError(`batch at ${pos}: compressed batches are not supported`, pos);
  }
  return size;
}
