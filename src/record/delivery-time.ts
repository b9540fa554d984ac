/**
 * Delivery times of delayed and scheduled jobs (queue mode, docs/queue.md "Delayed and
 * scheduled jobs"). A producer that wants a record handed to share-group workers no earlier
 * than some time writes the header
 *
 *   sluice.deliver.at = <epoch ms, decimal, utf-8>
 *
 * and the record is stored like any other, as the bytes that arrived. The share coordinator
 * reads the header when it first takes the record into a window (findDeliveryTimes), so the
 * time lives in the log itself and a restart or a coordinator move rebuilds it by reading
 * the record again. Plain consumers see an ordinary header.
 */
import { batchSizeAt, readBatchHeader, RECORDS } from './batch-header.js';
import { readVarint } from './varint.js';

export const DELIVER_AT_HEADER = 'sluice.deliver.at';
/**
 * Longest delay a job may ask for (30 days). A delayed record pins its share-partition's
 * window (docs/queue.md), so a delay is a promise the broker keeps in memory; the producer
 * refuses longer ones, and the broker treats a longer time it finds in a header (written by
 * some other producer) as due at the bound from when it first reads it.
 */
export const MAX_DELIVERY_DELAY_MS = 30 * 24 * 3600_000;

const KEY = Buffer.from(DELIVER_AT_HEADER, 'utf8');

/** The header value of `deliverAtMs` (an epoch ms integer). */
export function deliverAtHeaderValue(deliverAtMs: number): string {
  return String(Math.trunc(deliverAtMs));
}

/**
 * Parses a header value: the epoch ms, or undefined when it is not a non-negative decimal
 * integer (such a record is delivered as if it had no header: never lost, never stuck).
 */
export function parseDeliverAt(value: Uint8Array | null): number | undefined {
  if (value === null || value.length === 0 || value.length > 16) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n;
}

/**
 * The records of `bytes` (stored batches, uncompressed: the broker accepts no other) with
 * offsets in [first, last] whose delivery time is after `now`, as [offset, dueAt] pairs,
 * dueAt capped at now + MAX_DELIVERY_DELAY_MS. Costs one native byte search when no
 * record carries the header, which is the common case; the batches were already checked
 * when they were appended, and a record that does not parse is skipped (delivered now).
 */
export function findDeliveryTimes(bytes: Buffer, first: number, last: number, now: number): [number, number][] {
  const out: [number, number][] = [];
  if (bytes.indexOf(KEY) < 0) return out;
  const cap = now + MAX_DELIVERY_DELAY_MS;
  let pos = 0;
  for (;;) {
    const size = batchSizeAt(bytes, pos);
    if (size < RECORDS || pos + size > bytes.length) return out;
    const h = readBatchHeader(bytes, pos);
    const end = pos + size;
    if (h.baseOffset + h.lastOffsetDelta >= first && h.baseOffset <= last && bytes.subarray(pos, end).indexOf(KEY) >= 0) {
      try {
        scanBatch(bytes, pos + RECORDS, end, h.baseOffset, h.recordCount, first, last, now, cap, out);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err; // a varint past its record: the rest of this batch is delivered now
      }
    }
    if (h.baseOffset + h.lastOffsetDelta >= last) return out;
    pos = end;
  }
}

function scanBatch(buf: Buffer, start: number, end: number, baseOffset: number, count: number,
  first: number, last: number, now: number, cap: number, out: [number, number][]): void {
  const st = { pos: start };
  for (let r = 0; r < count && st.pos < end; r++) {
    const len = readVarint(buf, st, end);
    const recEnd = st.pos + len;
    if (len < 0 || recEnd > end) return;
    st.pos++; // attributes
    readVarint(buf, st, recEnd); // timestamp delta
    const offset = baseOffset + readVarint(buf, st, recEnd);
    if (offset < first || offset > last) {
      st.pos = recEnd;
      continue;
    }
    skipBytes(buf, st, recEnd); // key
    skipBytes(buf, st, recEnd); // value
    const headers = readVarint(buf, st, recEnd);
    for (let i = 0; i < headers && st.pos < recEnd; i++) {
      const kLen = readVarint(buf, st, recEnd);
      const isKey = kLen === KEY.length && buf.compare(KEY, 0, KEY.length, st.pos, st.pos + kLen) === 0;
      st.pos += Math.max(0, kLen);
      const vLen = readVarint(buf, st, recEnd);
      if (isKey && vLen >= 0 && st.pos + vLen <= recEnd) {
        const at = parseDeliverAt(buf.subarray(st.pos, st.pos + vLen));
        if (at !== undefined && at > now) out.push([offset, Math.min(at, cap)]);
      }
      st.pos += Math.max(0, vLen);
    }
    st.pos = recEnd;
  }
}

function skipBytes(buf: Buffer, st: { pos: number }, end: number): void {
  const len = readVarint(buf, st, end);
  if (len > 0) st.pos += len;
}
