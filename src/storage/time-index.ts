/**
 * Sparse time index of one segment, file `<base>.timeindex`, 12 bytes per entry:
 *
 *   TIMESTAMP        i64  largest batch maxTimestamp seen in the segment up to here
 *   RELATIVE_OFFSET  u32  base offset of the batch that has that timestamp - segment base
 *
 * Timestamps strictly increase (an entry is added only when the running maximum grew), so
 * an entry (T, o) says: every batch up to and including the one at `o` has maxTimestamp <= T.
 * Entries are added next to offset-index entries and once more when the segment stops being
 * active, so the last entry holds the segment's largest timestamp. Rebuilt from the log
 * like the offset index.
 */
import { readInt64, writeInt64 } from '../record/index.js';
import { EntryIndex } from './entry-index.js';

export const TIMESTAMP = 0; //                    i64
export const TIME_RELATIVE_OFFSET = TIMESTAMP + 8; // u32
export const TIME_ENTRY_SIZE = TIME_RELATIVE_OFFSET + 4; // 12

export class TimeIndex extends EntryIndex {
  constructor(initial?: Buffer) {
    super(TIME_ENTRY_SIZE, initial);
  }

  /** Whole entries, timestamps strictly increasing, offsets non-decreasing and below `maxRel`; else null. */
  static fromFile(bytes: Buffer, maxRel: number): TimeIndex | null {
    if (bytes.length % TIME_ENTRY_SIZE !== 0) return null;
    let prevTs = -Infinity;
    let prevRel = -1;
    for (let p = 0; p < bytes.length; p += TIME_ENTRY_SIZE) {
      const ts = readInt64(bytes, p + TIMESTAMP);
      const rel = bytes.readUInt32BE(p + TIME_RELATIVE_OFFSET);
      if (ts <= prevTs || rel < prevRel || rel > maxRel) return null;
      prevTs = ts;
      prevRel = rel;
    }
    return new TimeIndex(bytes);
  }

  lastTimestamp(): number {
    return this.count === 0 ? -1 : readInt64(this.buf, (this.count - 1) * TIME_ENTRY_SIZE + TIMESTAMP);
  }

  lastRelOffset(): number {
    return this.count === 0 ? -1 : this.buf.readUInt32BE((this.count - 1) * TIME_ENTRY_SIZE + TIME_RELATIVE_OFFSET);
  }

  /** Adds (timestamp, relOffset) only when `timestamp` is larger than the last entry's. */
  maybeAppend(timestamp: number, relOffset: number): void {
    if (this.count > 0 && timestamp <= this.lastTimestamp()) return;
    const at = this.nextSlot();
    writeInt64(this.buf, at + TIMESTAMP, timestamp);
    this.buf.writeUInt32BE(relOffset, at + TIME_RELATIVE_OFFSET);
    this.count++;
  }

  /**
   * Relative offset of the last entry whose timestamp is < `ts`, or -1. Every batch up to
   * that offset's batch is older than `ts`, so a search for `ts` may start after it.
   */
  lastBefore(ts: number): number {
    const i = this.lastWhere((at) => readInt64(this.buf, at + TIMESTAMP) < ts);
    return i < 0 ? -1 : this.buf.readUInt32BE(i * TIME_ENTRY_SIZE + TIME_RELATIVE_OFFSET);
  }
}
