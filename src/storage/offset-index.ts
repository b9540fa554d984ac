/**
 * Sparse offset index of one segment, file `<base>.index`, 8 bytes per entry:
 *
 *   RELATIVE_OFFSET  u32  base offset of a batch - the segment's base offset
 *   POSITION         u32  byte position of that batch in the segment's .log file
 *
 * No header and no checksum: both fields only ever grow, the whole index is derived from
 * the log, and a crash or a failed sanity check rebuilds it (segment.ts). An entry is added
 * before a batch once at least `indexIntervalBytes` were appended since the previous entry,
 * so the batch holding any offset starts less than `indexIntervalBytes` after the position
 * `lookup` returns. The index lives in memory (1 GiB segment / 4 KiB interval = 2 MiB) and
 * is written whole when its segment is sealed, closed or truncated (segment.ts).
 */
import { EntryIndex } from './entry-index.js';

export const RELATIVE_OFFSET = 0; //             u32
export const POSITION = RELATIVE_OFFSET + 4; //  u32
export const OFFSET_ENTRY_SIZE = POSITION + 4; // 8

export class OffsetIndex extends EntryIndex {
  constructor(initial?: Buffer) {
    super(OFFSET_ENTRY_SIZE, initial);
  }

  /**
   * Checks an index read from disk against the log it describes: whole entries, both fields
   * strictly increasing, positions inside the log. Returns null when it cannot be trusted.
   */
  static fromFile(bytes: Buffer, logSize: number): OffsetIndex | null {
    if (bytes.length % OFFSET_ENTRY_SIZE !== 0) return null;
    let prevRel = -1;
    let prevPos = -1;
    for (let p = 0; p < bytes.length; p += OFFSET_ENTRY_SIZE) {
      const rel = bytes.readUInt32BE(p + RELATIVE_OFFSET);
      const pos = bytes.readUInt32BE(p + POSITION);
      if (rel <= prevRel || pos <= prevPos || pos >= logSize) return null;
      prevRel = rel;
      prevPos = pos;
    }
    return new OffsetIndex(bytes);
  }

  append(relOffset: number, position: number): void {
    const at = this.nextSlot();
    this.buf.writeUInt32BE(relOffset, at + RELATIVE_OFFSET);
    this.buf.writeUInt32BE(position, at + POSITION);
    this.count++;
  }

  relOffsetAt(i: number): number {
    return this.buf.readUInt32BE(i * OFFSET_ENTRY_SIZE + RELATIVE_OFFSET);
  }

  positionAt(i: number): number {
    return this.buf.readUInt32BE(i * OFFSET_ENTRY_SIZE + POSITION);
  }

  /** Position of the last entry whose relative offset is <= `relOffset`, or 0 (the segment start). */
  lookup(relOffset: number): number {
    const i = this.floor(relOffset);
    return i < 0 ? 0 : this.positionAt(i);
  }

  /** The last entry whose relative offset is <= `relOffset`, or -1 (then the segment start: offset 0, position 0). */
  floor(relOffset: number): number {
    return this.lastWhere((at) => this.buf.readUInt32BE(at + RELATIVE_OFFSET) <= relOffset);
  }
}
