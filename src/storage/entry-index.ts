/**
 * What the offset and time indexes share (Kafka's AbstractIndex): fixed-size big-endian
 * entries in one in-memory Buffer that doubles as it fills, a count of entries already
 * written to the file (the segment writes the index whole when it is sealed, closed or truncated),
 * and a binary search for the last entry that satisfies a monotonic predicate.
 */
export abstract class EntryIndex {
  protected buf: Buffer;
  /** Entries in memory. */
  count = 0;
  /** Entries already in the file: when it equals `count`, sealing need not write the index again. */
  written = 0;

  protected constructor(protected readonly entrySize: number, initial?: Buffer) {
    if (initial && initial.length > 0) {
      this.buf = initial;
      this.count = initial.length / entrySize;
      this.written = this.count;
    } else {
      this.buf = Buffer.allocUnsafe(64 * entrySize);
    }
  }

  /** Byte position for a new last entry, growing the buffer when full; the caller fills it and bumps `count`. */
  protected nextSlot(): number {
    const at = this.count * this.entrySize;
    if (at + this.entrySize > this.buf.length) {
      const grown = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    return at;
  }

  /** Index of the last entry for which `below(entryPosition)` holds (true for a prefix of entries), or -1. */
  protected lastWhere(below: (at: number) => boolean): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (below(mid * this.entrySize)) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Drops entries past `count` (a failed write is rolled back). */
  truncateTo(count: number): void {
    this.count = Math.min(this.count, count);
    this.written = Math.min(this.written, count);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.count * this.entrySize);
  }
}
