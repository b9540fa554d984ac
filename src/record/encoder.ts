/**
 * Records -> one RecordBatch v2 (layout in batch-header.ts). Each record is:
 *
 *   length          varint  bytes of the record after this field
 *   attributes      i8      unused, 0
 *   timestampDelta  varlong timestamp - baseTimestamp
 *   offsetDelta     varint  index of the record in the batch
 *   keyLength       varint  -1 for a null key
 *   key             bytes
 *   valueLength     varint  -1 for a null value
 *   value           bytes
 *   headerCount     varint
 *   headers         (keyLength varint, key utf-8, valueLength varint, value bytes) * headerCount
 *
 * The encoder sizes the whole batch first and fills one allocation, so encoding costs one
 * Buffer per batch, not per record.
 */
import { crc32c } from '@node-rs/crc32';
import {
  ATTRIBUTES, BASE_SEQUENCE, BASE_TIMESTAMP, BATCH_LENGTH, CRC, CURRENT_MAGIC, LAST_OFFSET_DELTA, LOG_OVERHEAD,
  MAGIC, MAX_TIMESTAMP, PARTITION_LEADER_EPOCH, PRODUCER_EPOCH, PRODUCER_ID, RECORD_COUNT, RECORDS, writeInt64,
} from './batch-header.js';
import { varintSize, writeVarint } from './varint.js';

export type Bytes = Uint8Array | string;

export interface RecordHeader {
  key: string;
  value: Bytes | null;
}

export interface RecordInput {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: RecordHeader[];
  /** ms since epoch; defaults to the batch's base timestamp (now). */
  timestamp?: number;
}

export interface EncodeOptions {
  baseOffset?: number;
  /** Used for records without a timestamp; defaults to Date.now(). */
  now?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
}

function byteLen(b: Bytes | null | undefined): number {
  if (b == null) return -1;
  return typeof b === 'string' ? Buffer.byteLength(b) : b.length;
}

function writeBytes(buf: Buffer, pos: number, b: Bytes | null | undefined, len: number): number {
  pos = writeVarint(buf, pos, len);
  if (len <= 0) return pos;
  if (typeof b === 'string') buf.write(b, pos, len, 'utf8');
  else buf.set(b as Uint8Array, pos);
  return pos + len;
}

// Reused across calls: record sizes are computed once in the sizing pass and read back in
// the writing pass. Grows to the largest batch seen.
let sizes = new Int32Array(1024);

/** Encodes `records` (at least one) into a new batch Buffer with a valid CRC. */
export function encodeBatch(records: readonly RecordInput[], opts: EncodeOptions = {}): Buffer {
  const n = records.length;
  if (n === 0) throw new RangeError('a batch needs at least one record');
  const now = opts.now ?? Date.now();
  let baseTs = Infinity;
  let maxTs = -Infinity;
  for (let i = 0; i < n; i++) {
    const ts = records[i].timestamp ?? now;
    if (ts < baseTs) baseTs = ts;
    if (ts > maxTs) maxTs = ts;
  }
  // Kafka uses the first record's timestamp as base; the minimum keeps every delta >= 0,
  // which encodes in fewer bytes and is equally valid.
  if (sizes.length < n) sizes = new Int32Array(Math.max(n, sizes.length * 2));

  let total = RECORDS;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    const kLen = byteLen(r.key);
    const vLen = byteLen(r.value);
    let body = 1 + varintSize((r.timestamp ?? now) - baseTs) + varintSize(i)
      + varintSize(kLen) + Math.max(kLen, 0) + varintSize(vLen) + Math.max(vLen, 0);
    const hs = r.headers;
    const hCount = hs ? hs.length : 0;
    body += varintSize(hCount);
    for (let h = 0; h < hCount; h++) {
      const hk = Buffer.byteLength(hs![h].key);
      const hv = byteLen(hs![h].value);
      body += varintSize(hk) + hk + varintSize(hv) + Math.max(hv, 0);
    }
    sizes[i] = body;
    total += varintSize(body) + body;
  }

  const buf = Buffer.allocUnsafe(total);
  writeInt64(buf, 0, opts.baseOffset ?? 0);
  buf.writeInt32BE(total - LOG_OVERHEAD, BATCH_LENGTH);
  buf.writeInt32BE(-1, PARTITION_LEADER_EPOCH);
  buf.writeInt8(CURRENT_MAGIC, MAGIC);
  buf.writeInt16BE(0, ATTRIBUTES);
  buf.writeInt32BE(n - 1, LAST_OFFSET_DELTA);
  writeInt64(buf, BASE_TIMESTAMP, baseTs);
  writeInt64(buf, MAX_TIMESTAMP, maxTs);
  writeInt64(buf, PRODUCER_ID, opts.producerId ?? -1);
  buf.writeInt16BE(opts.producerEpoch ?? -1, PRODUCER_EPOCH);
  buf.writeInt32BE(opts.baseSequence ?? -1, BASE_SEQUENCE);
  buf.writeInt32BE(n, RECORD_COUNT);

  let pos = RECORDS;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    pos = writeVarint(buf, pos, sizes[i]);
    buf[pos++] = 0;
    pos = writeVarint(buf, pos, (r.timestamp ?? now) - baseTs);
    pos = writeVarint(buf, pos, i);
    pos = writeBytes(buf, pos, r.key, byteLen(r.key));
    pos = writeBytes(buf, pos, r.value, byteLen(r.value));
    const hs = r.headers;
    const hCount = hs ? hs.length : 0;
    pos = writeVarint(buf, pos, hCount);
    for (let h = 0; h < hCount; h++) {
      const hk = hs![h].key;
      pos = writeBytes(buf, pos, hk, Buffer.byteLength(hk));
      pos = writeBytes(buf, pos, hs![h].value, byteLen(hs![h].value));
    }
  }
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES)) >>> 0, CRC);
  return buf;
}
