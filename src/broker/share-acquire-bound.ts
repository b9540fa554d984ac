/**
 * The byte bound of a ShareAcquire answer under a fetch (consumer) quota (docs/security.md,
 * "Quotas and limits"). The coordinator hands out records by count and sees no bytes; the
 * handler reads what it took, and here keeps only as many records as the answer's budget
 * (ClientQuotas.maxFetchBytes: the quota's one-second burst) holds, the first record always,
 * so a worker whose quota is smaller than one job still gets one job per answer. The rest go
 * back to the group as never taken (ShareCoordinator.delay with a due time of now: no lock,
 * delivery count unchanged), at once available to any worker.
 *
 * Why bound it: the answer's bytes are metered when it leaves (request-pipeline.ts), and the
 * throttle they cause holds every later request of the connection back, the worker's acks
 * and heartbeats included. 100 jobs of 64 KiB under a 64 KiB/s quota would be a 99 s
 * throttle, past a 30 s visibility timeout: every job would expire while its worker waits to
 * ack it. Bounded, the throttle stays about a second (one job's time at the quota when a
 * single job is bigger than the burst).
 */
import type { AcquiredRange } from '../queue/types.js';

export class AcquireByteBound {
  /** Bytes the answer may still carry. */
  private left: number;
  /** The answer holds a record already: later partitions may be left out entirely. */
  private holdsOne = false;

  constructor(maxBytes: number) {
    this.left = maxBytes;
  }

  /** No quota applies: fit() keeps everything and never reads again. */
  get unbounded(): boolean {
    return this.left === Infinity;
  }

  /**
   * Fits one partition's acquired records (`ranges`, their bytes `records`) into what is left
   * of the budget. Reads a prefix again with `read` when only part fits (share-read.ts cuts
   * batches to the records asked for), and hands the offsets left out to `giveBack`. Returns
   * what the answer carries for the partition (no ranges: nothing).
   */
  async fit(ranges: AcquiredRange[], records: Buffer, read: (ranges: AcquiredRange[]) => Promise<Buffer>,
    giveBack: (offsets: number[]) => void): Promise<{ acquired: AcquiredRange[]; records: Buffer }> {
    let keep = countOffsets(ranges);
    let kept = ranges;
    let bytes = records;
    const least = this.holdsOne ? 0 : 1;
    // Shrink in proportion to the overshoot (records of one job are alike in size more often
    // than not), and by at least one each time, so this ends within `keep` reads.
    while (bytes.length > this.left && keep > least) {
      keep = Math.max(least, Math.min(keep - 1, Math.floor((keep * this.left) / bytes.length)));
      kept = prefixOf(ranges, keep);
      bytes = keep === 0 ? EMPTY : await read(kept);
    }
    if (keep < countOffsets(ranges)) giveBack(offsetsAfter(ranges, keep));
    this.left -= bytes.length;
    if (keep > 0) this.holdsOne = true;
    return { acquired: kept, records: bytes };
  }
}

const EMPTY = Buffer.alloc(0);

function countOffsets(ranges: readonly AcquiredRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.lastOffset - r.firstOffset + 1;
  return n;
}

/** The first `n` offsets of `ranges`, as ranges. */
function prefixOf(ranges: readonly AcquiredRange[], n: number): AcquiredRange[] {
  const out: AcquiredRange[] = [];
  for (const r of ranges) {
    if (n <= 0) break;
    const size = r.lastOffset - r.firstOffset + 1;
    out.push(size <= n ? r : { ...r, lastOffset: r.firstOffset + n - 1 });
    n -= size;
  }
  return out;
}

/** The offsets of `ranges` after the first `n`. */
function offsetsAfter(ranges: readonly AcquiredRange[], n: number): number[] {
  const out: number[] = [];
  for (const r of ranges) {
    for (let off = r.firstOffset; off <= r.lastOffset; off++) if (n-- <= 0) out.push(off);
  }
  return out;
}
