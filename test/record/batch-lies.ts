/**
 * Batches whose header lies about their records, with a valid CRC, so they pass every
 * byte-level check and only the broker's record walk (src/record/validate-records.ts) can
 * refuse them. Shared by the record unit tests, the produce integration test and the wire
 * fuzz generators (test/integration/fuzz-cases.ts).
 *
 * Each lie changes one thing a producer controls and then re-frames the batch (batch
 * length and CRC-32C recomputed), starting from a valid batch made by encodeBatch.
 */
import {
  BATCH_LENGTH, BASE_TIMESTAMP, LAST_OFFSET_DELTA, LOG_OVERHEAD, MAX_TIMESTAMP, RECORD_COUNT, RECORDS, CRC,
  computeCrc, readInt64, writeInt64, readVarint, varintSize, writeVarint,
} from '../../src/record/index.js';

export const LIE_KINDS = [
  'lastOffsetDelta', 'recordCount', 'bothCounts', 'maxTimestamp', 'baseTimestamp', 'offsetDelta', 'recordLength', 'extraRecord',
] as const;
export type LieKind = (typeof LIE_KINDS)[number];

/** The wire error each lie must get, and a pattern its message must match (naming what was wrong). */
export const LIE_REFUSAL: Record<LieKind, { code: 'INVALID_RECORD' | 'CORRUPT_MESSAGE'; message: RegExp }> = {
  lastOffsetDelta: { code: 'INVALID_RECORD', message: /last offset delta -?\d+ does not match record count/ },
  recordCount: { code: 'INVALID_RECORD', message: /record count|last offset delta/ },
  bothCounts: { code: 'INVALID_RECORD', message: /record count -?\d+(;| but)/ },
  maxTimestamp: { code: 'INVALID_RECORD', message: /max timestamp -?\d+ but the largest record timestamp is/ },
  baseTimestamp: { code: 'INVALID_RECORD', message: /max timestamp -?\d+ but the largest record timestamp is/ },
  offsetDelta: { code: 'INVALID_RECORD', message: /record \d+ has offset delta -?\d+, expected \d+/ },
  recordLength: { code: 'CORRUPT_MESSAGE', message: /record \d+: / },
  extraRecord: { code: 'INVALID_RECORD', message: /more bytes follow record/ },
};

/** Byte position of each record's length varint, walking a valid batch. */
export function recordStarts(batch: Buffer): number[] {
  const count = batch.readInt32BE(RECORD_COUNT);
  const st = { pos: RECORDS };
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(st.pos);
    const len = readVarint(batch, st, batch.length);
    st.pos += len;
  }
  return out;
}

/** Fixes batchLength and the CRC after an edit. */
export function reframe(batch: Buffer): Buffer {
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, BATCH_LENGTH);
  batch.writeUInt32BE(computeCrc(batch, 0, batch.length), CRC);
  return batch;
}

/** Replaces the varint at `at` by `value` (sizes may differ), returning a new, reframed batch. */
export function replaceVarint(batch: Buffer, at: number, value: number): Buffer {
  const st = { pos: at };
  readVarint(batch, st, batch.length);
  const enc = Buffer.alloc(varintSize(value));
  writeVarint(enc, 0, value);
  return reframe(Buffer.concat([batch.subarray(0, at), enc, batch.subarray(st.pos)]));
}

/**
 * Rewrites a valid batch the way Kafka's producer lays it out: baseTimestamp is the first
 * record's timestamp, so later records may have negative deltas. Still valid.
 */
export function withFirstTimestampAsBase(batch: Buffer): Buffer {
  let b: Buffer = Buffer.from(batch);
  const base = readInt64(b, BASE_TIMESTAMP);
  const starts = recordStarts(b);
  const ts: number[] = [];
  for (const s of starts) {
    const st = { pos: s };
    readVarint(b, st, b.length);
    st.pos++;
    ts.push(base + readVarint(b, st, b.length));
  }
  const first = ts[0];
  // Back to front, so earlier positions stay valid while later records change size.
  for (let i = starts.length - 1; i >= 0; i--) {
    const st = { pos: starts[i] };
    const len = readVarint(b, st, b.length);
    const tsAt = st.pos + 1;
    const oldSize = varintSize(ts[i] - base);
    const newSize = varintSize(ts[i] - first);
    b = replaceVarint(b, tsAt, ts[i] - first);
    if (newSize !== oldSize) b = replaceVarint(b, starts[i], len + newSize - oldSize);
  }
  writeInt64(b, BASE_TIMESTAMP, first);
  return reframe(b);
}

/**
 * `batch` (valid, from encodeBatch) with one lie. `k` picks the size of the lie (never 0
 * in effect) and `at` which record a record-level lie touches.
 */
export function lie(batch: Buffer, kind: LieKind, k: number, at = 0): Buffer {
  const b = Buffer.from(batch);
  const count = b.readInt32BE(RECORD_COUNT);
  const delta = k === 0 ? 1 : k;
  const starts = recordStarts(b);
  const j = Math.abs(at) % starts.length;
  switch (kind) {
    case 'lastOffsetDelta':
      b.writeInt32BE(clampI32(count - 1 + delta), LAST_OFFSET_DELTA);
      return reframe(b);
    case 'recordCount':
      b.writeInt32BE(clampI32(count + delta), RECORD_COUNT);
      return reframe(b);
    case 'bothCounts': {
      // A self-consistent header (delta == count - 1) over the wrong number of records.
      const n = clampI32(count + delta);
      b.writeInt32BE(n, RECORD_COUNT);
      b.writeInt32BE(n - 1, LAST_OFFSET_DELTA);
      return reframe(b);
    }
    case 'maxTimestamp':
      writeInt64(b, MAX_TIMESTAMP, readInt64(b, MAX_TIMESTAMP) + delta);
      return reframe(b);
    case 'baseTimestamp':
      writeInt64(b, BASE_TIMESTAMP, readInt64(b, BASE_TIMESTAMP) + delta);
      return reframe(b);
    case 'offsetDelta': {
      const st = { pos: starts[j] };
      const len = readVarint(b, st, b.length);
      st.pos++; // attributes
      readVarint(b, st, b.length); // timestamp delta
      const offAt = st.pos;
      const oldSize = varintSize(readVarint(b, st, b.length));
      const wrong = j + delta;
      const out = replaceVarint(b, offAt, wrong);
      const grow = varintSize(wrong) - oldSize;
      return grow === 0 ? out : replaceVarint(out, starts[j], len + grow);
    }
    case 'recordLength': {
      const len = readVarint(b, { pos: starts[j] }, b.length);
      return replaceVarint(b, starts[j], Math.max(0, len + delta) === len ? len + 1 : Math.max(0, len + delta));
    }
    case 'extraRecord': {
      // A copy of the last record appended, header counts left alone.
      const last = b.subarray(starts[starts.length - 1]);
      return reframe(Buffer.concat([b, last]));
    }
  }
}

function clampI32(n: number): number {
  return Math.max(-(2 ** 31) + 1, Math.min(2 ** 31 - 1, n));
}
