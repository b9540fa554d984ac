/**
 * Batch bytes -> records, for clients. Keys, values and header values are views into the
 * fetched buffer (no copy); a consumer that keeps a message past its batch keeps that
 * buffer alive, which is the usual trade of zero-copy decoding.
 */
import { CorruptBatchError } from '../errors.js';
import { RECORDS, batchSizeAt, readBatchHeader, validateBatch, type BatchHeader } from './batch-header.js';
import { readVarint } from './varint.js';

export interface DecodedHeader {
  key: string;
  value: Buffer | null;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: DecodedHeader[];
}

export interface DecodedBatch {
  header: BatchHeader;
  records: DecodedRecord[];
}

const NO_HEADERS: DecodedHeader[] = [];

function readBytes(buf: Buffer, st: { pos: number }, end: number): Buffer | null {
  const len = readVarint(buf, st, end);
  if (len < 0) return null;
  const start = st.pos;
  if (start + len > end) throw new RangeError('field runs past the end of its record');
  st.pos = start + len;
  return buf.subarray(start, start + len);
}

/**
 * Decodes the one batch at `pos` after checking its CRC. A record that does not fit its
 * declared length raises CorruptBatchError rather than returning garbage.
 */
export function decodeBatch(buf: Buffer, pos = 0): DecodedBatch {
  const size = validateBatch(buf, pos);
  const header = readBatchHeader(buf, pos);
  const end = pos + size;
  const baseTs = header.baseTimestamp;
  const baseOffset = header.baseOffset;
  const records: DecodedRecord[] = new Array(header.recordCount);
  const st = { pos: pos + RECORDS };
  try {
    for (let i = 0; i < header.recordCount; i++) {
      const len = readVarint(buf, st, end);
      const recEnd = st.pos + len;
      if (len < 0 || recEnd > end) throw new RangeError(`record ${i} length ${len} runs past the batch`);
      st.pos++; // attributes
      const timestamp = baseTs + readVarint(buf, st, recEnd);
      const offset = baseOffset + readVarint(buf, st, recEnd);
      const key = readBytes(buf, st, recEnd);
      const value = readBytes(buf, st, recEnd);
      const hCount = readVarint(buf, st, recEnd);
      let headers = NO_HEADERS;
      if (hCount > 0) {
        headers = new Array(hCount);
        for (let h = 0; h < hCount; h++) {
          const k = readBytes(buf, st, recEnd);
          headers[h] = { key: k ? k.toString('utf8') : '', value: readBytes(buf, st, recEnd) };
        }
      }
      if (st.pos !== recEnd) throw new RangeError(`record ${i} has ${recEnd - st.pos} unread bytes`);
      records[i] = { offset, timestamp, key, value, headers };
    }
  } catch (err) {
    if (err instanceof RangeError) throw new CorruptBatchError(`batch at ${pos}: ${err.message}`, pos);
    throw err;
  }
  return { header, records };
}

/**
 * Decodes every whole batch in `buf` (a fetch response may end with a partial batch when
 * a byte limit cut it; that tail is ignored, as Kafka clients do).
 */
export function* decodeBatches(buf: Buffer): Generator<DecodedBatch> {
  let pos = 0;
  for (;;) {
    const size = batchSizeAt(buf, pos);
    if (size < 0 || pos + size > buf.length) return;
    yield decodeBatch(buf, pos);
    pos += size;
  }
}

