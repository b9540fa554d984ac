/**
 * Reads what a ShareAcquire answer carries: the acquired records of one partition.
 *
 * readAcquired reads the batches holding
 * acquired records (reads sized to the range) and cuts each of them down to the acquired records (record/batch-subset.ts): a producer's batch holds
 * ~1,000 records and an acquire takes ~30 of them, so the whole batches were 35x the
 * payload on the wire (docs/queue-performance.md, step 1). Every kept record keeps its offset
 * and timestamp; a worker's client decodes them as it decodes a fetch.
 */
import { BASE_OFFSET, batchSizeAt, emptyCursor, lastOffsetOf, readInt64, RECORDS, subsetBatch, type OffsetRange, type RecordCursor } from '../record/index.js';
import type { PartitionLog } from '../storage/types.js';

const EMPTY = Buffer.alloc(0);
/** One storage read; a range needing more is read in several steps. */
const READ_BYTES = 1 << 20;

/**
 * Bytes per offset assumed for the first read of an acquisition: ~100-byte jobs. The log
 * returns the first batch whole however small the read, and later reads use the size per
 * offset of what was read, so a wrong guess costs one more read, not a wrong answer.
 */
const FIRST_GUESS_BYTES_PER_OFFSET = 128;

/**
 * The records of `ranges` (sorted, as ShareCoordinator.acquire returns them) as batches
 * holding only those records. A record no longer stored (retention) is simply absent: its
 * worker cannot see it and its lock runs out, as before.
 *
 * Reads are sized to what is left of the range being read (docs/queue-performance.md, step
 * 2), not 1 MiB per acquire: ~30 acquired records of a 110 KB batch read that batch, not the
 * next nine. Batches wholly between two ranges (a redelivered record far behind the rest)
 * are not read.
 */
export async function readAcquired(log: PartitionLog, ranges: readonly OffsetRange[], cache?: ShareReadCache): Promise<Buffer> {
  const parts: Buffer[] = [];
  let perOffset = FIRST_GUESS_BYTES_PER_OFFSET;
  let r = 0;
  let offset = -1;
  for (;;) {
    while (r < ranges.length && ranges[r].lastOffset < offset) r++;
    if (r === ranges.length) break;
    offset = Math.max(offset, ranges[r].firstOffset, log.logStartOffset);
    if (offset > ranges[r].lastOffset) continue;
    if (offset >= log.logEndOffset) break;
    const want = Math.min(READ_BYTES, Math.ceil((ranges[r].lastOffset - offset + 1) * perOffset));
    let bytes = cache?.get(log, offset);
    // Where the last walk of this log's cached batches stopped (RecordCursor): the next
    // acquisition's records usually start there. Only with bytes of the cache, taken in the
    // same turn as the cursor: both then belong to one entry (a read's own bytes walk from
    // the start).
    let cursor = bytes ? cache!.cursor(log) : undefined;
    const pending = bytes ? undefined : cache?.inFlight(log, offset);
    if (pending) {
      await pending.catch(() => undefined); // its failure is its own reader's: this one then reads itself
      bytes = cache!.get(log, offset);
      cursor = bytes ? cache!.cursor(log) : undefined;
    }
    if (!bytes) {
      const read = log.read(offset, want).then((r) => {
        if (r.bytes.length > 0) cache?.set(log, r.bytes);
        return r.bytes;
      });
      cache?.reading(log, offset, read);
      bytes = await read;
    }
    let pos = 0;
    let first = -1;
    let next = -1;
    const lastWanted = ranges[ranges.length - 1].lastOffset;
    while (pos < bytes.length) {
      const size = batchSizeAt(bytes, pos);
      if (size < RECORDS || pos + size > bytes.length) break;
      if (first < 0) first = readInt64(bytes, pos + BASE_OFFSET);
      const kept = subsetBatch(bytes, pos, size, ranges, cursor);
      if (kept) parts.push(kept);
      next = lastOffsetOf(bytes, pos) + 1;
      pos += size;
      if (next > lastWanted) break;
    }
    if (next < 0) break; // no whole batch: nothing more to give
    perOffset = Math.max(1, pos / (next - first));
    offset = next;
  }
  if (parts.length === 0) return EMPTY;
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Bytes of stored batches one ShareReadCache keeps, all partitions together. */
const CACHE_BYTES = 16 << 20;

interface CachedRead {
  /** Whole stored batches, as the log returned them. */
  bytes: Buffer;
  /** Offset of the first batch's base and one past the last batch's last offset. */
  first: number;
  next: number;
  /** The log's latest leader epoch when read: a truncation is followed by appends of a newer one. */
  epoch: number;
  /** Where the last walk of these batches stopped (subsetBatch); dropped with them. */
  cursor: RecordCursor;
}

/**
 * The stored batches last read per partition (readAcquired). A producer's batch holds ~1,000
 * records and an acquire takes ~64, so without it each stored batch was read from the segment
 * ~16 times, every read two hand-offs to libuv's pool (docs/queue-performance.md, "the profile
 * after steps 1-4", item 2). Stored batches do not change, with two exceptions checked at
 * every hit: the log start moving past them (retention, DeleteRecords) and a truncation, which
 * is only followed by appends of a newer leader epoch (a record an acquire names lies below
 * the log end, so it was appended after the truncation). One entry per log, least recently
 * used dropped first beyond CACHE_BYTES; a deleted topic's log leaves with its entry's turn.
 */
export class ShareReadCache {
  private readonly entries = new Map<PartitionLog, CachedRead>();
  /**
   * The read of each log in flight, from its offset on. The acquisitions of several workers
   * that reach a new stored batch in one I/O phase all missed the cache while the first one's
   * read was out: 3.3 reads per stored batch in the work-queue bench (4 workers), each two
   * hand-offs to libuv's pool (docs/queue-performance.md, step 11). Now they wait for it.
   */
  private readonly inflight = new Map<PartitionLog, { from: number; read: Promise<unknown> }>();
  private bytes = 0;

  constructor(private readonly budget = CACHE_BYTES) {}

  /** The read of `log` in flight that may hold `offset` (it starts at or below it), or undefined. */
  inFlight(log: PartitionLog, offset: number): Promise<unknown> | undefined {
    const r = this.inflight.get(log);
    return r && offset >= r.from ? r.read : undefined;
  }

  /** A read of `log` from `from` on has started; it puts what it read into the cache itself (set) before it resolves. */
  reading(log: PartitionLog, from: number, read: Promise<unknown>): void {
    const e = { from, read };
    this.inflight.set(log, e);
    const done = () => { if (this.inflight.get(log) === e) this.inflight.delete(log); };
    read.then(done, done);
  }

  /** The cached batches of `log` from the one holding `offset` on, or undefined. */
  get(log: PartitionLog, offset: number): Buffer | undefined {
    const e = this.entries.get(log);
    if (!e || offset < e.first || offset >= e.next) return undefined;
    this.entries.delete(log);
    if (e.epoch !== log.latestEpoch() || offset < log.logStartOffset || offset >= log.logEndOffset) {
      this.bytes -= e.bytes.length;
      return undefined;
    }
    this.entries.set(log, e); // most recently used
    let pos = 0;
    while (lastOffsetOf(e.bytes, pos) < offset) pos += batchSizeAt(e.bytes, pos);
    return pos === 0 ? e.bytes : e.bytes.subarray(pos);
  }

  /**
   * The walk cursor of `log`'s cached batches (RecordCursor), or undefined. Ask it in the
   * same turn as the get() whose bytes it will walk: get() drops an entry whose epoch
   * changed, and the cursor is only moved by walks of its own entry's bytes.
   */
  cursor(log: PartitionLog): RecordCursor | undefined {
    return this.entries.get(log)?.cursor;
  }

  /** Keeps the whole batches of `bytes` (a read of `log`) in place of what was kept for it. */
  set(log: PartitionLog, bytes: Buffer): void {
    let end = 0;
    let next = -1;
    for (;;) {
      const size = batchSizeAt(bytes, end);
      if (size < RECORDS || end + size > bytes.length) break;
      next = lastOffsetOf(bytes, end) + 1;
      end += size;
    }
    const old = this.entries.get(log);
    if (old) {
      this.entries.delete(log);
      this.bytes -= old.bytes.length;
    }
    if (end === 0 || end > this.budget) return;
    const kept = end === bytes.length ? bytes : bytes.subarray(0, end);
    this.entries.set(log, { bytes: kept, first: readInt64(bytes, BASE_OFFSET), next, epoch: log.latestEpoch(), cursor: emptyCursor() });
    this.bytes += end;
    for (const [l, e] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(l);
      this.bytes -= e.bytes.length;
    }
  }

  /** Bytes kept now (tests). */
  get size(): number {
    return this.bytes;
  }
}
