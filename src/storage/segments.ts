/** The segments of one partition, sorted by base offset; only a sorted list and its floor search. */
import type { Segment } from './segment.js';

export class Segments {
  private list: Segment[] = [];

  get length(): number {
    return this.list.length;
  }

  get active(): Segment {
    return this.list[this.list.length - 1];
  }

  get first(): Segment {
    return this.list[0];
  }

  at(i: number): Segment {
    return this.list[i];
  }

  all(): readonly Segment[] {
    return this.list;
  }

  /** Appends a segment whose base offset is above every other. */
  push(seg: Segment): void {
    this.list.push(seg);
  }

  /** Removes and returns the oldest segment. */
  shift(): Segment | undefined {
    return this.list.shift();
  }

  /** Removes every segment from index `i` on. */
  dropFrom(i: number): Segment[] {
    return this.list.splice(i);
  }

  /** The segment with the largest base offset <= `offset` (binary search), or undefined. */
  floor(offset: number): Segment | undefined {
    const i = this.floorIndex(offset);
    return i < 0 ? undefined : this.list[i];
  }

  /** Index of the segment with the largest base offset <= `offset`, or -1. */
  floorIndex(offset: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  sizeBytes(): number {
    let n = 0;
    for (const s of this.list) n += s.size;
    return n;
  }
}
