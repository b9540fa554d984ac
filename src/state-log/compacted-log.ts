/**
 * State kept as an append-only log of keyed records in generations (generation-log.ts), and
 * snapshotted (into the next generation; or, where the dir keeps one generation for life,
 * into the same one followed by a log start advance: GenerationDir.advanceLogStart) once
 * the log holds more than `compactRatio` times as many records as there are live keys: so
 * restart time follows live state, not history.
 * The consumer-group offset store and the queue-mode share state log are both this.
 *
 * Writes (appends and compactions) run one at a time, in call order. A durable append's
 * fsync is waited for outside that queue when the log can flush (GenerationLog.flush): the
 * next write, durable or not, goes to the file while the fsync runs, and the fsyncs of
 * appends made meanwhile are shared (group commit). Before, an acquisition's non-durable
 * write waited for the fsync of an ack written before it (docs/queue-performance.md, step 3).
 * Subclasses say how many keys are live, what a snapshot holds and what its closing marker
 * looks like.
 */
import { encodeBatch, type RecordInput } from '../record/index.js';
import type { BadBatch } from './replay.js';
import { freshGeneration, openNewestGeneration, writeSnapshot, type GenerationLog, type GenerationDir } from './generation-log.js';

/**
 * A replayed record that does not decode or cannot be applied: a record this broker did not
 * write (the queue's dead-letter path could once copy a client's record into an internal
 * topic), or one a bug wrote. Replay skips it rather than refuse to start. A stored batch
 * whose bytes changed on disk is reported as one such record: key null, value the bytes.
 */
export interface BadStateRecord {
  /** Generation (the internal topic's `-<n>` suffix) and offset of the record in it. */
  generation: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Why it was skipped. */
  error: Error;
}

export interface CompactionOptions {
  /** Compact when records in the log exceed this many times the live keys. Default 4. */
  compactRatio?: number;
  /** ...and at least this many records. Default 1000. */
  compactMinRecords?: number;
  /** Told when a compaction that a write triggered fails (the log stays as it was; the next write tries again). */
  onCompactionError?: (err: unknown) => void;
  /**
   * Told about each record replay skips (see BadStateRecord), before the store opens. Resolve
   * true once the record is kept somewhere else (the broker copies it to a quarantine file):
   * when every skipped record was kept, the store rewrites its log without them (a
   * compaction), so the next start does not meet them again. Without this option, or when
   * it resolves false or throws, the records stay in the log and are skipped on every start.
   */
  onBadRecord?: (record: BadStateRecord) => boolean | Promise<boolean>;
}

export abstract class CompactedLog {
  private log!: GenerationLog;
  private gen = 0;
  /** Records in the current generation, live or not. */
  protected records = 0;
  /** The write queue: appends and compactions, one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Compactions outside the write queue (compact()), one at a time. */
  private housekeeping: Promise<unknown> = Promise.resolve();
  /** Every append queued so far, each with its fsync when durable. */
  private done: Promise<unknown> = Promise.resolve();
  /**
   * A compaction has started and not switched to its snapshot yet. The writes made meanwhile
   * do not ask for another: its snapshot covers them. Beside the queue it ends at the switch,
   * not once the old generation is removed: the writes after the switch go to the new
   * generation, and when they outlasted a slow removal none of them could ask, so the log
   * stayed unbounded until some later write (test/state-log/compacted-log.test.ts; an ask
   * made meanwhile runs after this compaction, removal included: compact()).
   */
  private compacting = false;
  /**
   * The compaction asked for that has not started yet. Asks made before it starts join it:
   * its snapshot is taken after them, so it covers what each asked for. Before, every ask
   * queued a compaction of its own: in place, each of the writes queued behind the one that
   * found the log due ran before the compaction it asked for and asked again, and the log
   * took one whole snapshot per write, back to back (test/state-log/compaction-asks.test.ts).
   */
  private asked: Promise<void> | undefined;
  /** Set by close(): later writes are refused (closedError()), later compactions skipped. */
  private closed = false;
  private readonly compactRatio: number;
  private readonly compactMinRecords: number;
  private readonly onCompactionError: (err: unknown) => void;
  private readonly onBadRecord: ((record: BadStateRecord) => boolean | Promise<boolean>) | undefined;
  /** Completed compactions since open (for tests and metrics). */
  compactions = 0;
  /** Records the last open() skipped, and how many of them onBadRecord kept elsewhere. */
  badRecords = 0;
  private badRecordsKept = 0;

  protected constructor(private readonly dir: GenerationDir, protected readonly now: () => number, opts: CompactionOptions) {
    this.compactRatio = opts.compactRatio ?? 4;
    this.compactMinRecords = opts.compactMinRecords ?? 1000;
    this.onCompactionError = opts.onCompactionError ?? (() => {});
    this.onBadRecord = opts.onBadRecord;
  }

  get generation(): number {
    return this.gen;
  }

  /**
   * Forces a snapshot into a new generation (normally triggered by the record/live-key ratio).
   * Only the snapshot's own appends and the switch to the new generation are in the write
   * queue. Making the new generation (a topic: directory, files, metadata, fsyncs) and
   * removing the old one happen beside it, while other writes go on: in the queue they were
   * most of a compaction's 5-30 ms, and every write behind them waited, a queue worker's
   * pick-up included (docs/queue-performance.md, "Pick-up latency").
   */
  compact(): Promise<void> {
    if (this.asked) return this.asked;
    const start = (): Promise<void> => {
      this.asked = undefined; // from here on, an ask may come after the snapshot: it needs a compaction of its own
      return this.dir.advanceLogStart ? this.compactNow() : this.compactBeside();
    };
    let run: Promise<void>;
    if (this.dir.advanceLogStart) {
      run = this.enqueue(start);
    } else {
      run = this.housekeeping.then(start);
      this.housekeeping = run.catch(() => undefined);
    }
    this.asked = run;
    return run;
  }

  /**
   * Stops the log. From the call on, writes are refused (closedError()) and no compaction
   * starts; it resolves once every write queued before it and every compaction under way
   * have ended, so the directory is not touched after it returns (the broker closes the log
   * manager next). A compaction that has not yet reached its switch is abandoned and the
   * generation it was making removed: close leaves one generation, which replays whole.
   * Before, close waited with idle(), which missed a compaction that a write queued before
   * it started while it waited: that compaction made g+1 after close returned, found the
   * log closed, and left g+1 half made (test/state-log/compaction-during-close.test.ts).
   */
  async close(): Promise<void> {
    this.closed = true;
    // A write queued before the close may start a compaction while this waits: wait again
    // until a round finds nothing new. It ends: nothing is queued after `closed` is set, and
    // a compaction called from then on returns at once.
    for (;;) {
      const { housekeeping, tail, done } = this;
      await housekeeping;
      await tail.catch(() => undefined);
      await done.catch(() => undefined);
      if (housekeeping === this.housekeeping && tail === this.tail && done === this.done) return;
    }
  }

  /**
   * Resolves when every write queued so far has finished (successfully or not), fsyncs of
   * durable ones and compactions included; a compaction one of those writes starts while
   * this waits is not (close() waits for those too).
   */
  async idle(): Promise<void> {
    await this.housekeeping;
    await this.tail.catch(() => undefined);
    await this.done.catch(() => undefined);
  }

  /** Resolves when every write queued so far is in the log (not necessarily fsynced). */
  protected async written(): Promise<void> {
    await this.tail.catch(() => undefined);
  }

  /** What a write after close() is refused with (the store's own error). */
  protected abstract closedError(): Error;
  protected abstract liveKeys(): number;
  /** The live state as batches of records, for a snapshot taken at `now`. */
  protected abstract snapshotBatches(now: number): Iterable<RecordInput[]>;
  /** The record that closes a complete snapshot of generation `gen` holding `records` records. */
  protected abstract snapshotMarker(gen: number, records: number, now: number): RecordInput;

  /**
   * Opens the newest complete generation, replaying candidates through `replay` (the
   * subclass's: it reads with replay.ts' recordsOf and reports the records it skips with
   * `skipped()`). When it skipped some and all of them were kept elsewhere, a compaction is
   * queued to drop them from the log.
   */
  protected async load(replay: (log: GenerationLog, last: boolean, gen: number) => Promise<boolean>): Promise<void> {
    const { gen, log } = await openNewestGeneration(this.dir, replay);
    this.gen = gen;
    this.log = log;
    if (this.badRecords > 0 && this.badRecordsKept === this.badRecords) {
      // Not awaited by open: a failure leaves the log as it was (the records are skipped again next start).
      this.compact().catch(this.onCompactionError);
    }
  }

  /**
   * Reports a stored batch replay of generation `gen` stepped over (replay.ts' onBadBatch) as
   * one skipped record: its first offset, no key, the stored bytes as its value.
   */
  protected skippedBatch(gen: number, b: BadBatch): Promise<void> {
    return this.skipped(gen, { offset: b.offset, timestamp: b.timestamp, key: null, value: b.bytes }, b.error);
  }

  /** Reports a record replay of generation `gen` skips; call it from `replay`. */
  protected async skipped(gen: number, r: { offset: number; timestamp: number; key: Buffer | null; value: Buffer | null }, error: unknown): Promise<void> {
    this.badRecords++;
    const err = error instanceof Error ? error : new Error(String(error));
    let kept = false;
    try {
      kept = (await this.onBadRecord?.({ generation: gen, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, error: err })) === true;
    } catch {
      kept = false; // the handler's own failure: the record stays in the log
    }
    if (kept) this.badRecordsKept++;
  }

  /** Appends `records` as one batch after every earlier write, then runs `apply`, then compacts when due. */
  protected append(records: RecordInput[], durable: boolean, apply?: () => void): Promise<void> {
    return this.appendSplit(records, durable, apply).done;
  }

  /**
   * As append, with the write and its end apart: `written` resolves once the batch is in
   * the log, `done` once it is also fsynced when `durable`. With nothing to write, both
   * cover the writes queued before (and, when durable, a fresh fsync of them).
   */
  protected appendSplit(records: RecordInput[], durable: boolean, apply?: () => void): { written: Promise<void>; done: Promise<void> } {
    if (this.closed) {
      const refused = Promise.reject(this.closedError());
      refused.catch(() => undefined); // a caller may await only one of the two
      return { written: refused, done: refused };
    }
    if (records.length === 0) {
      const written = this.written();
      return { written, done: durable ? written.then(() => this.log.flush?.()) : written };
    }
    const batch = encodeBatch(records, { now: this.now() });
    let log: GenerationLog | undefined;
    const written = this.enqueue(async () => {
      log = this.log;
      // In place: one ~200-byte write per I/O phase, where the thread pool's hand-off cost
      // ~20x the write (docs/queue-performance.md, step 12).
      await log.append(batch, { durable: durable && !log.flush, inPlace: true });
      this.records += records.length;
      apply?.();
      if (!this.compacting && !this.asked && this.records >= this.compactMinRecords && this.records > this.compactRatio * this.liveKeys()) {
        // Queued behind this write; its failure must not fail this write, which already succeeded.
        this.compact().catch(this.onCompactionError);
      }
    });
    const out = durable ? written.then(() => this.flushed(log!)) : written;
    const before = this.done;
    this.done = Promise.allSettled([before, out]);
    return { written, done: out };
  }

  /**
   * fsyncs what `log` holds, this caller's append included. A compaction may have replaced
   * the generation meanwhile and removed `log` (the flush then fails): the snapshot that
   * replaced it was taken after this append and written durably, so waiting for it is enough.
   */
  private async flushed(log: GenerationLog): Promise<void> {
    if (!log.flush) return;
    try {
      await log.flush();
    } catch (err) {
      if (log === this.log) throw err;
      await this.written();
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** In place (GenerationDir.advanceLogStart): the whole compaction in the write queue. */
  private async compactNow(): Promise<void> {
    if (this.closed) return; // compactions run one at a time (compact()): none is under way here
    this.compacting = true;
    try {
      await this.compactInPlace((offset) => this.dir.advanceLogStart!(this.gen, offset));
    } finally {
      this.compacting = false;
    }
  }

  /**
   * Into generation g+1 (see compact()): g+1 is made beside the write queue; the snapshot
   * of memory and its marker are written in the queue, which then switches to g+1, so every
   * write after the snapshot goes to g+1 and every write before it is covered by it; g is
   * removed beside the queue. A crash before the marker is durable replays g (g+1 has no
   * marker); after it, g+1, whatever is left of g (openNewestGeneration).
   */
  private async compactBeside(): Promise<void> {
    if (this.closed) return; // compactions run one at a time (compact()): none is under way here
    this.compacting = true;
    try {
      const next = this.gen + 1; // only compactions change gen, and they run one at a time
      const fresh = await freshGeneration(this.dir, next);
      const old = await this.enqueue(async () => {
        if (this.closed) return undefined;
        const now = this.now();
        const records = await writeSnapshot(fresh, this.snapshotBatches(now), (n) => this.snapshotMarker(next, n, now), now);
        const was = this.gen;
        this.log = fresh;
        this.gen = next;
        this.records = records;
        this.compactions++;
        this.compacting = false; // switched: see `compacting`
        return was;
      });
      // Closed before the switch: g+1 has no marker (a reopen would pass over it), but the
      // directory is left as close() promises, with g alone.
      await this.dir.remove(old ?? next);
    } finally {
      this.compacting = false;
    }
  }

  /**
   * The snapshot appended to the current generation, then the log start moved to its first
   * record (GenerationDir.advanceLogStart). Writes are serialized, so nothing else is between
   * its records. A failure part-way leaves the start where it was: replay reads the partial
   * snapshot as rewrites of live values, which change nothing.
   */
  private async compactInPlace(advance: (offset: number) => Promise<void>): Promise<void> {
    const now = this.now();
    let first = -1;
    let records = 0;
    for (const batch of this.snapshotBatches(now)) {
      if (batch.length === 0) continue;
      const { lastOffset } = await this.log.append(encodeBatch(batch, { now }), { durable: true });
      if (first < 0) first = lastOffset - batch.length + 1;
      records += batch.length;
      this.records += batch.length;
    }
    const { lastOffset } = await this.log.append(encodeBatch([this.snapshotMarker(this.gen, records, now)], { now }), { durable: true });
    this.records++;
    if (first < 0) first = lastOffset;
    await advance(first);
    this.records = records + 1;
    this.compactions++;
  }
}
