/**
 * Message values for the benchmarks without a per-message allocation: one pool of random
 * bytes (random so that nothing on the path can profit from repetition), and each value
 * is a `size`-byte view into it. The pool is at least 16 MiB, or N x size when that is
 * smaller, so consecutive values differ like the peers' (`../shared/peers/common.mjs`).
 */
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 16 * 1024 * 1024;

export class PayloadPool {
  private readonly pool: Buffer;
  private readonly slots: number;

  constructor(readonly size: number, count: number) {
    const bytes = Math.max(size, Math.min(POOL_BYTES, size * count));
    this.pool = randomBytes(Math.max(bytes, size));
    this.slots = Math.max(1, Math.floor(this.pool.length / Math.max(1, size)));
  }

  /** The i-th value: a view, never a copy. */
  value(i: number): Buffer {
    const at = (i % this.slots) * this.size;
    return this.pool.subarray(at, at + this.size);
  }
}
