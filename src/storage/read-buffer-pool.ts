/**
 * Buffers for log reads that are handed back once the bytes read into them are no longer
 * needed (for a fetch: once the response is written to the socket).
 *
 * Why: a replay reads about 4 MiB per fetch. A fresh Buffer each time is fresh memory,
 * and on the 2-core benchmark machine every new 4 KiB page costs a page fault of a few
 * microseconds: 6,000-16,000 faults and 110-220 ms of broker CPU per 1 M messages
 * replayed, varying with when V8 happened to free the previous buffers (they are external
 * memory, freed only by a major GC once promoted). Reusing them keeps the pages mapped.
 *
 * Buffers are kept by size class (64 KiB steps) with a bound on the bytes kept; when a
 * returned buffer would pass it, buffers of other classes make room (a few odd-sized reads
 * at segment ends must not pin the pool against the common fetch size). A buffer
 * the pool did not lend, or one returned twice, is ignored, so callers may return
 * whatever they read and a read that is never returned is simply left to the GC.
 * Returning a buffer is a promise that nothing reads it any more: the next read
 * overwrites it.
 */
const CLASS_BYTES = 64 * 1024;

export class ReadBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** ArrayBuffers lent and not yet returned (weak: a read never returned is GC'd as usual). */
  private readonly lent = new WeakSet<ArrayBuffer>();
  private keptBytes = 0;

  constructor(readonly maxKeptBytes = 64 * 1024 * 1024) {}

  /** A Buffer of at least `size` bytes (its contents are whatever was there). */
  acquire(size: number): Buffer {
    const cls = Math.max(1, Math.ceil(size / CLASS_BYTES));
    const list = this.free.get(cls);
    let ab = list?.pop();
    if (ab) this.keptBytes -= ab.byteLength;
    else ab = new ArrayBuffer(cls * CLASS_BYTES);
    this.lent.add(ab);
    return Buffer.from(ab);
  }

  /** Hands back the memory under `buf` (any view of a lent buffer); a no-op for other buffers. */
  release(buf: Uint8Array): void {
    const ab = buf.buffer;
    if (!(ab instanceof ArrayBuffer) || !this.lent.has(ab)) return;
    this.lent.delete(ab);
    const cls = ab.byteLength / CLASS_BYTES;
    if (!this.makeRoom(ab.byteLength, cls)) return;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(ab);
    this.keptBytes += ab.byteLength;
  }

  /** Drops kept buffers of classes other than `keep` until `bytes` more fit; false if they cannot. */
  private makeRoom(bytes: number, keep: number): boolean {
    if (bytes > this.maxKeptBytes) return false;
    for (const [cls, list] of this.free) {
      if (this.keptBytes + bytes <= this.maxKeptBytes) break;
      if (cls === keep) continue;
      while (list.length > 0 && this.keptBytes + bytes > this.maxKeptBytes) this.keptBytes -= list.pop()!.byteLength;
      if (list.length === 0) this.free.delete(cls);
    }
    return this.keptBytes + bytes <= this.maxKeptBytes;
  }

  /** Bytes held for reuse (for tests and metrics). */
  get kept(): number {
    return this.keptBytes;
  }
}
