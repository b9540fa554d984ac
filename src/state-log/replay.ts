/**
 * Reading a generation back at start-up: every record, in offset order, a batch at a time,
 * stepping over damage instead of stopping at it.
 *
 * A stored batch passed every check when it was appended, so one that fails later changed on
 * disk since (a flipped bit in a segment that a clean shutdown did not scan again). The
 * storage read path refuses to serve it (CorruptLogError, with a copy of its bytes as far as
 * they can be trusted); replay hands it to `onBadBatch` and carries on from the first offset
 * after it, because one damaged batch must not keep the broker from starting: the state of
 * every other key is still in the log.
 */
import { CorruptBatchError } from '../errors.js';
import { HEADER_SIZE, batchSizeAt, decodeBatch, readBatchHeader, type DecodedBatch, type DecodedRecord } from '../record/index.js';
import { CorruptLogError } from '../storage/errors.js';
import type { GenerationLog } from './generation-log.js';

const READ_BYTES = 1 << 20;

/** A stored batch that replay stepped over. */
export interface BadBatch {
  /** The offset the batch starts at (where the log says it should), and the first offset replay read after it. */
  offset: number;
  nextOffset: number;
  /** The batch's base timestamp, or -1 when its header is not there to tell. */
  timestamp: number;
  /** The stored bytes, as far as they are known to belong to the batch (see CorruptLogError.stored). */
  bytes: Buffer;
  error: Error;
}

/**
 * Every record of `log`, from its start to its end, in offset order, a batch at a time: one
 * await per batch, not per record. A batch the storage layer refuses to serve, or that does
 * not decode, is handed to `onBadBatch` (awaited) and skipped; without `onBadBatch` the
 * error is thrown.
 */
export async function* recordsOf(log: GenerationLog, onBadBatch?: (b: BadBatch) => void | Promise<void>): AsyncGenerator<DecodedRecord[]> {
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    let bytes: Buffer;
    try {
      ({ bytes } = await log.read(offset, READ_BYTES));
    } catch (err) {
      if (!(err instanceof CorruptLogError) || !onBadBatch) throw err;
      const next = await firstOffsetPast(log, offset, err);
      const stored = err.stored ?? Buffer.alloc(0);
      await onBadBatch({ offset: err.offset, nextOffset: next, timestamp: timestampOf(stored, 0), bytes: stored, error: err });
      offset = next;
      continue;
    }
    if (bytes.length === 0) return;
    const from = offset;
    for (let pos = 0; pos + HEADER_SIZE <= bytes.length;) {
      const size = batchSizeAt(bytes, pos);
      if (size < HEADER_SIZE || pos + size > bytes.length) break;
      let batch: DecodedBatch;
      try {
        batch = decodeBatch(bytes, pos);
      } catch (err) {
        // The read path checked this header and CRC, so the records themselves are what
        // this version cannot decode; the header still says which offsets to step over.
        if (!(err instanceof CorruptBatchError) || !onBadBatch) throw err;
        const h = readBatchHeader(bytes, pos);
        const next = h.baseOffset + h.lastOffsetDelta + 1;
        await onBadBatch({ offset: h.baseOffset, nextOffset: next, timestamp: h.baseTimestamp, bytes: Buffer.from(bytes.subarray(pos, pos + size)), error: err });
        offset = Math.max(offset, next);
        pos += size;
        continue;
      }
      yield batch.records[0]?.offset >= offset ? batch.records : batch.records.filter((r) => r.offset >= offset);
      offset = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
      pos += size;
    }
    // A read that yields no whole batch would be asked again forever.
    if (offset === from) throw new CorruptBatchError(`state log read at offset ${from} returned no whole batch`);
  }
}

/**
 * The first offset after `from` whose read does not meet the damage `err` (found reading at
 * `from`). Reads meet it for every offset of the bad batch, and for the offsets after it up
 * to the next index entry when its header is bad (a read walks there from the entry before);
 * from then on they do not: a binary search over reads finds the boundary. The log end
 * always qualifies (nothing is read there).
 */
async function firstOffsetPast(log: GenerationLog, from: number, err: CorruptLogError): Promise<number> {
  let lo = from + 1;
  let hi = log.logEndOffset;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await meetsDamage(log, mid, err)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function meetsDamage(log: GenerationLog, offset: number, damage: CorruptLogError): Promise<boolean> {
  try {
    await log.read(offset, 1);
    return false;
  } catch (err) {
    if (!(err instanceof CorruptLogError)) throw err;
    // Other damage further on is the next bad batch, met (and reported) in its turn.
    return err.segment === damage.segment && err.position === damage.position;
  }
}

function timestampOf(bytes: Buffer, pos: number): number {
  return bytes.length - pos >= HEADER_SIZE ? readBatchHeader(bytes, pos).baseTimestamp : -1;
}
