/**
 * What the offset store needs from storage: a few append-only logs ("generations") it can
 * create, list and drop. A generation is a PartitionLog (the structural subset below), so
 * the disk implementation is the storage layer's own log; `MemoryOffsetLogDir` is the same
 * contract in memory, for tests and for a broker without a data directory.
 *
 * Why generations instead of deleting a log prefix: PartitionLog has no "delete records
 * before offset". A snapshot is written to generation g+1, and g is dropped once the
 * snapshot is durable, so restart time is bounded by live entries, not by history.
 */
import { setBaseOffset, batchSizeAt, lastOffsetOf, validateBatches, encodeBatch, decodeBatches, type DecodedRecord, type RecordInput } from '../record/index.js';
import type { LogManager } from '../storage/types.js';

/** The subset of storage's PartitionLog the offset store uses. */
export interface OffsetLog {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  append(batches: Buffer, opts?: { durable?: boolean }): Promise<{ lastOffset: number }>;
  read(offset: number, maxBytes: number): Promise<{ bytes: Buffer }>;
}

const READ_BYTES = 1 << 20;

/**
 * Every record of `log`, from its start to its end, in offset order (for replay at
 * start-up), a batch at a time: one await per batch, not per record.
 */
export async function* recordsOf(log: OffsetLog): AsyncGenerator<DecodedRecord[]> {
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { bytes } = await log.read(offset, READ_BYTES);
    if (bytes.length === 0) return;
    for (const batch of decodeBatches(bytes)) {
      const from = offset;
      yield batch.records[0]?.offset >= from ? batch.records : batch.records.filter((r) => r.offset >= from);
      offset = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
    }
  }
}

export interface OffsetLogDir {
  /** Generations that exist, in any order. */
  generations(): Promise<number[]>;
  /** Opens generation `gen`, creating it empty when missing. */
  open(gen: number): Promise<OffsetLog>;
  /** Deletes generation `gen` and its data; a no-op when missing. */
  remove(gen: number): Promise<void>;
}

/**
 * Opens the newest generation that `replay` calls complete (a snapshot that finished, or a
 * log never compacted), falling back to the oldest one left; removes every other
 * generation, and creates generation 0 when there is none. `replay` is told whether the
 * generation it gets is the last candidate, so it can accept a partial one.
 */
export async function openNewestGeneration(
  dir: OffsetLogDir, replay: (log: OffsetLog, last: boolean, gen: number) => Promise<boolean>,
): Promise<{ gen: number; log: OffsetLog }> {
  const gens = (await dir.generations()).sort((a, b) => b - a);
  let chosen: { gen: number; log: OffsetLog } | undefined;
  for (let i = 0; i < gens.length && !chosen; i++) {
    const log = await dir.open(gens[i]);
    const last = i === gens.length - 1;
    if ((await replay(log, last, gens[i])) || last) chosen = { gen: gens[i], log };
  }
  chosen ??= { gen: 0, log: await dir.open(0) };
  for (const g of gens) if (g !== chosen.gen) await dir.remove(g);
  return chosen;
}

/**
 * Writes a snapshot as generation `gen`: each chunk of `batches` as one durable batch, then
 * `marker(n)` (n = records before it), whose presence is what makes a generation complete
 * on replay. A leftover `gen` from an attempt that failed earlier is removed first. Returns
 * the new log and how many records it holds, marker included.
 */
export async function writeSnapshotGeneration(
  dir: OffsetLogDir, gen: number, batches: Iterable<RecordInput[]>, marker: (records: number) => RecordInput, now: number,
): Promise<{ log: OffsetLog; records: number }> {
  await dir.remove(gen);
  const log = await dir.open(gen);
  let records = 0;
  for (const batch of batches) {
    if (batch.length === 0) continue;
    await log.append(encodeBatch(batch, { now }), { durable: true });
    records += batch.length;
  }
  await log.append(encodeBatch([marker(records)], { now }), { durable: true });
  return { log, records: records + 1 };
}

/** In-memory logs with PartitionLog's offset and read semantics (whole batches from the one holding `offset`). */
export class MemoryOffsetLog implements OffsetLog {
  private readonly batches: { base: number; bytes: Buffer }[] = [];
  private end = 0;
  /** Test hook: the next append rejects with this error. */
  failNextAppend: Error | null = null;

  get logStartOffset(): number {
    return 0;
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
    if (offset < 0 || offset > this.end) throw new RangeError(`offset ${offset} outside [0, ${this.end}]`);
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

export class MemoryOffsetLogDir implements OffsetLogDir {
  readonly logs = new Map<number, MemoryOffsetLog>();

  async generations(): Promise<number[]> {
    return [...this.logs.keys()];
  }

  async open(gen: number): Promise<MemoryOffsetLog> {
    let log = this.logs.get(gen);
    if (!log) this.logs.set(gen, (log = new MemoryOffsetLog()));
    return log;
  }

  async remove(gen: number): Promise<void> {
    this.logs.delete(gen);
  }
}

/**
 * Generations as single-partition internal topics `<prefix>-<gen>` of a LogManager, kept
 * forever (no time or size retention: the store's compaction bounds them instead).
 */
/** Generations of the committed-offsets log are the internal topics `__consumer_offsets-<n>`. */
export const OFFSETS_PREFIX = '__consumer_offsets';

export function logManagerOffsetLogDir(manager: LogManager, prefix = OFFSETS_PREFIX): OffsetLogDir {
  const name = (gen: number) => `${prefix}-${gen}`;
  const pattern = new RegExp(`^${prefix.replace(/[.]/g, '\\.')}-(\\d+)$`);
  return {
    async generations() {
      const out: number[] = [];
      for (const t of manager.topics()) {
        const m = pattern.exec(t.name);
        if (m) out.push(Number(m[1]));
      }
      return out;
    },
    async open(gen) {
      const topic = name(gen);
      if (!manager.topic(topic)) await manager.createTopic(topic, 1, { retentionMs: -1, retentionBytes: -1 });
      const log = manager.log(topic, 0);
      if (!log) throw new Error(`internal topic ${topic} has no partition 0`);
      return log;
    },
    async remove(gen) {
      if (manager.topic(name(gen))) await manager.deleteTopic(name(gen));
    },
  };
}
