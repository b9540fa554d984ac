/** Shared bits of the queue tests: a manual clock and range helpers. */
import type { AcquiredPartition } from '../../src/queue/share-coordinator.js';
import type { AcquiredRange } from '../../src/queue/types.js';

export class ManualClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
}

export function offsetsOf(ranges: readonly AcquiredRange[]): number[] {
  const out: number[] = [];
  for (const r of ranges) for (let o = r.firstOffset; o <= r.lastOffset; o++) out.push(o);
  return out;
}

export function countOf(parts: readonly AcquiredPartition[]): number {
  let n = 0;
  for (const p of parts) for (const r of p.ranges) n += r.lastOffset - r.firstOffset + 1;
  return n;
}
