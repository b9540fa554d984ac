/**
 * State kept as an append-only log of keyed records in generations (offset-log.ts), and
 * snapshotted into the next generation once the log holds more than `compactRatio` times
 * as many records as there are live keys: so restart time follows live state, not history.
 * The consumer-group offset store and the queue-mode share state log are both this.
 *
 * Writes (appends and compactions) run one at a time, in call order. Subclasses say how
 * many keys are live, what a snapshot holds and what its closing marker looks like.
 */
import { encodeBatch, type RecordInput } from '../record/index.js';
import { openNewestGeneration, writeSnapshotGeneration, type OffsetLog, type OffsetLogDir } from './offset-log.js';

export interface CompactionOptions {
  /** Compact when records in the log exceed this many times the live keys. Default 4. */
  compactRatio?: number;
  /** ...and at least this many records. Default 1000. */
  compactMinRecords?: number;
  /** Told when a compaction that a write triggered fails (the log stays as it was; the next write tries again). */
  onCompactionError?: (err: unknown) => void;
}

export abstract class CompactedLog {
  private log!: OffsetLog;
  private gen = 0;
  /** Records in the current generation, live or not. */
  protected records = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private compacting = false;
  /** Set by a subclass that closes: later writes are refused by it, compactions skipped here. */
  protected closed = false;
  private readonly compactRatio: number;
  private readonly compactMinRecords: number;
  private readonly onCompactionError: (err: unknown) => void;
  /** Completed compactions since open (for tests and metrics). */
  compactions = 0;

  protected constructor(private readonly dir: OffsetLogDir, protected readonly now: () => number, opts: CompactionOptions) {
    this.compactRatio = opts.compactRatio ?? 4;
    this.compactMinRecords = opts.compactMinRecords ?? 1000;
    this.onCompactionError = opts.onCompactionError ?? (() => {});
  }

  get generation(): number {
    return this.gen;
  }

  /** Forces a snapshot into a new generation (normally triggered by the record/live-key ratio). */
  compact(): Promise<void> {
    return this.enqueue(() => this.compactNow());
  }

  /** Resolves when every write queued so far has finished (successfully or not). */
  async idle(): Promise<void> {
    await this.tail.catch(() => undefined);
  }

  protected abstract liveKeys(): number;
  /** The live state as batches of records, for a snapshot taken at `now`. */
  protected abstract snapshotBatches(now: number): Iterable<RecordInput[]>;
  /** The record that closes a complete snapshot of generation `gen` holding `records` records. */
  protected abstract snapshotMarker(gen: number, records: number, now: number): RecordInput;

  /** Opens the newest complete generation, replaying candidates through `replay` (offset-log.ts). */
  protected async load(replay: (log: OffsetLog, last: boolean) => Promise<boolean>): Promise<void> {
    const { gen, log } = await openNewestGeneration(this.dir, replay);
    this.gen = gen;
    this.log = log;
  }

  /** Appends `records` as one batch after every earlier write, then runs `apply`, then compacts when due. */
  protected append(records: RecordInput[], durable: boolean, apply?: () => void): Promise<void> {
    const batch = encodeBatch(records, { now: this.now() });
    return this.enqueue(async () => {
      await this.log.append(batch, { durable });
      this.records += records.length;
      apply?.();
      if (!this.compacting && this.records >= this.compactMinRecords && this.records > this.compactRatio * this.liveKeys()) {
        // Queued behind this write; its failure must not fail this write, which already succeeded.
        this.compact().catch(this.onCompactionError);
      }
    });
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async compactNow(): Promise<void> {
    if (this.compacting || this.closed) return;
    this.compacting = true;
    const next = this.gen + 1;
    try {
      const now = this.now();
      const { log, records } = await writeSnapshotGeneration(
        this.dir, next, this.snapshotBatches(now), (n) => this.snapshotMarker(next, n, now), now);
      const old = this.gen;
      this.log = log;
      this.gen = next;
      this.records = records;
      this.compactions++;
      await this.dir.remove(old);
    } finally {
      this.compacting = false;
    }
  }
}
