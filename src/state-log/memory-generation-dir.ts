/**
 * The generation contract (generation-log.ts) in memory, with PartitionLog's offset and read
 * semantics: for tests, and for a broker without a data directory.
 */
import { setBaseOffset, batchSizeAt, lastOffsetOf, validateBatches } from '../record/index.js';
import type { GenerationDir, GenerationLog } from './generation-log.js';

/** In-memory logs with PartitionLog's offset and read semantics (whole batches from the one holding `offset`). */
export class MemoryGenerationLog implements GenerationLog {
  private readonly batches: { base: number; bytes: Buffer }[] = [];
  private end = 0;
  private start = 0;
  /** Test hook: the next append rejects with this error. */
  failNextAppend: Error | null = null;

  get logStartOffset(): number {
    return this.start;
  }

  /** PartitionLog's: reads below `offset` are refused, batches wholly below it dropped. */
  advanceLogStartOffset(offset: number): void {
    if (offset > this.end) throw new RangeError(`log start ${offset} past the log end ${this.end}`);
    if (offset <= this.start) return;
    this.start = offset;
    while (this.batches.length > 0 && lastOffsetOf(this.batches[0].bytes, 0) < offset) this.batches.shift();
  }

  /** Stored bytes (for tests of what compaction leaves). */
  get sizeBytes(): number {
    let n = 0;
    for (const b of this.batches) n += b.bytes.length;
    return n;
  }

  get logEndOffset(): number {
    return this.end;
  }

  async append(buf: Buffer, _opts?: { durable?: boolean }): Promise<{ lastOffset: number }> {
    if (this.failNextAppend) {
      const e = this.failNextAppend;
      this.failNextAppend = null;
      throw e;
    }
    const copy = Buffer.from(buf);
    validateBatches(copy); // like PartitionLog: a corrupt batch stores nothing
    let lastOffset = this.end - 1;
    for (let pos = 0; pos < copy.length;) {
      const size = batchSizeAt(copy, pos);
      const batch = copy.subarray(pos, pos + size);
      setBaseOffset(batch, 0, this.end);
      lastOffset = lastOffsetOf(batch, 0);
      this.batches.push({ base: this.end, bytes: batch });
      this.end = lastOffset + 1;
      pos += size;
    }
    return { lastOffset };
  }

  async read(offset: number, maxBytes: number): Promise<{ bytes: Buffer }> {
    if (offset < this.start || offset > this.end) throw new RangeError(`offset ${offset} outside [${this.start}, ${this.end}]`);
    let i = this.batches.findIndex((b) => lastOffsetOf(b.bytes, 0) >= offset);
    if (i < 0) return { bytes: Buffer.alloc(0) };
    const out: Buffer[] = [];
    let size = 0;
    for (; i < this.batches.length; i++) {
      const b = this.batches[i].bytes;
      if (out.length > 0 && size + b.length > maxBytes) break;
      out.push(b);
      size += b.length;
    }
    return { bytes: Buffer.concat(out) };
  }
}

export class MemoryGenerationDir implements GenerationDir {
  readonly logs = new Map<number, MemoryGenerationLog>();
  /** Set by `{ inPlace: true }`: one generation for life, compacted by log start advances (a replicated partition's shape). */
  readonly advanceLogStart?: (gen: number, offset: number) => Promise<void>;

  constructor(opts: { inPlace?: boolean } = {}) {
    if (opts.inPlace === true) this.advanceLogStart = async (gen, offset) => (await this.open(gen)).advanceLogStartOffset(offset);
  }

  async generations(): Promise<number[]> {
    return [...this.logs.keys()];
  }

  async open(gen: number): Promise<MemoryGenerationLog> {
    let log = this.logs.get(gen);
    if (!log) this.logs.set(gen, (log = new MemoryGenerationLog()));
    return log;
  }

  async remove(gen: number): Promise<void> {
    this.logs.delete(gen);
  }
}
