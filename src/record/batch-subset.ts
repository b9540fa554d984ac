/**
 * A stored batch cut down to some of its records, the way Kafka's log cleaner writes a
 * compacted batch: the header is kept (baseOffset, lastOffsetDelta, timestamps, producer
 * fields), so every kept record keeps its offset and timestamp (both are deltas from the
 * header), and only recordCount, batchLength and the CRC change. A reader that decodes by
 * offsetDelta (client/message-decoder.ts, record/decoder.ts) sees the kept records at their
 * own offsets; lastOffsetDelta >= recordCount - 1 is what validateBatch allows for exactly
 * this case.
 *
 * Why (docs/queue-performance.md, step 1): a ShareAcquire takes ~30 records out of a stored
 * batch of ~1,000, and sent the whole batch: 3.6 KB on the wire per 100-byte job. The kept
 * records' bytes are copied as they are (no record is re-encoded), so the cost is one walk
 * of the batch's record lengths, one copy of what is kept and one CRC-32C over it.
 *
 * Only uncompressed batches can be walked; Sluice stores no other (validate-records.ts). A
 * compressed one is returned whole: the reader then skips the records it was not given.
 */
import {
  ATTRIBUTES, BATCH_LENGTH, COMPRESSION_MASK, CRC, LOG_OVERHEAD, RECORD_COUNT, RECORDS, computeCrc, readInt64, BASE_OFFSET,
} from './batch-header.js';
import { readVarint } from './varint.js';

/** An inclusive offset range, sorted and not overlapping the next one. */
export interface OffsetRange {
  firstOffset: number;
  lastOffset: number;
}

/**
 * Where a walk of a stored batch's records stopped: record `index` of the batch with base
 * offset `base` starts `at` bytes after the batch's start and has offset `offset`. An
 * acquire takes the records after the previous one's, so the next walk of the same batch
 * can start there instead of at its first record: a producer's batch of ~1,000 records was
 * walked from its start by each of the ~16 acquires that took part of it.
 *
 * Only a hint: subsetBatch starts from it only for the same batch (`base`) and when no
 * range starts below `offset` (every record before it has a smaller offset), else it walks
 * from the start. Valid for any copy of that stored batch, since the positions are relative
 * to the batch; a truncated and rewritten log may store another batch at the same base, so
 * the holder drops the cursor with the bytes it read (share-read.ts ShareReadCache).
 */
export interface RecordCursor {
  base: number;
  at: number;
  index: number;
  offset: number;
}

/** A cursor that points nowhere (base -1): subsetBatch fills it in. */
export function emptyCursor(): RecordCursor {
  return { base: -1, at: 0, index: 0, offset: 0 };
}

/**
 * The records of the batch at `buf[pos]` (`size` bytes, framed and checked by the caller)
 * whose offsets fall inside `ranges` (sorted), as a batch of its own: a view of the stored
 * bytes when every record is kept, a new buffer when some are, null when none is. Throws
 * RangeError when a record's length runs past the batch (a corrupt batch). With `cursor`,
 * the walk starts where it says when it may (see RecordCursor) and the cursor is left at
 * the first record past the last range, when the walk stopped there.
 */
export function subsetBatch(buf: Buffer, pos: number, size: number, ranges: readonly OffsetRange[], cursor?: RecordCursor): Buffer | null {
  const end = pos + size;
  if ((buf.readInt16BE(pos + ATTRIBUTES) & COMPRESSION_MASK) !== 0) return buf.subarray(pos, end);
  const base = readInt64(buf, pos + BASE_OFFSET);
  const count = buf.readInt32BE(pos + RECORD_COUNT);
  // Kept record spans as [start, end) pairs, adjacent ones merged: one copy per run.
  const spans: number[] = [];
  let kept = 0;
  let r = 0;
  const st = { pos: pos + RECORDS };
  let i = 0;
  if (cursor !== undefined && cursor.base === base && ranges.length > 0 && ranges[0].firstOffset >= cursor.offset
    && cursor.index < count && cursor.at >= RECORDS && cursor.at < size) {
    i = cursor.index;
    st.pos = pos + cursor.at;
  }
  for (; i < count && r < ranges.length; i++) {
    const start = st.pos;
    const len = readVarint(buf, st, end);
    const recEnd = st.pos + len;
    if (len < 0 || recEnd > end) throw new RangeError(`record ${i} length ${len} runs past the batch`);
    st.pos++; // attributes
    readVarint(buf, st, recEnd); // timestampDelta
    const offset = base + readVarint(buf, st, recEnd);
    st.pos = recEnd;
    while (r < ranges.length && ranges[r].lastOffset < offset) r++;
    if (r === ranges.length) {
      if (cursor !== undefined) {
        cursor.base = base;
        cursor.at = start - pos;
        cursor.index = i;
        cursor.offset = offset;
      }
      break;
    }
    if (offset < ranges[r].firstOffset) continue;
    kept++;
    if (spans.length && spans[spans.length - 1] === start) spans[spans.length - 1] = recEnd;
    else spans.push(start, recEnd);
  }
  if (kept === 0) return null;
  if (kept === count) return buf.subarray(pos, end);
  let bytes = RECORDS;
  for (let i = 0; i < spans.length; i += 2) bytes += spans[i + 1] - spans[i];
  const out = Buffer.allocUnsafe(bytes);
  buf.copy(out, 0, pos, pos + RECORDS);
  let at = RECORDS;
  for (let i = 0; i < spans.length; i += 2) at += buf.copy(out, at, spans[i], spans[i + 1]);
  out.writeInt32BE(bytes - LOG_OVERHEAD, BATCH_LENGTH);
  out.writeInt32BE(kept, RECORD_COUNT);
  out.writeUInt32BE(computeCrc(out, 0, bytes), CRC);
  return out;
}
