/**
 * Makes share group state survive a restart. The coordinator changes in memory; the broker
 * calls `persist()` after each batch of worker calls and answers the workers once it
 * resolves. Record format: share-state-records.ts.
 *
 * Storage is the offsets store's contract (src/group/offset-log.ts: generations of
 * append-only logs; `logManagerOffsetLogDir(manager, '__share_state')` on disk,
 * `MemoryOffsetLogDir` in tests). Compaction is the same scheme as the offsets store: when
 * the current generation holds more than `compactRatio` times as many records as live keys
 * (and at least `compactMinRecords`), every group's config and every partition's window is
 * written to generation g+1 with a marker, durably, and g is removed. On open, the newest
 * generation with a marker (or the oldest left) is replayed and the others removed. Replay
 * time is therefore bounded by windows (<= maxWindow runs each), not by history.
 *
 * What a restart keeps: acked and archived records stay settled; acquired records come
 * back available with their delivery count (their locks and backoff times are gone);
 * counters (acked, dead-lettered) carry on. What it loses: changes whose persist() had not
 * resolved — at-least-once: such a record is delivered again, never dropped.
 */
import { decodeBatches, encodeBatch, type RecordInput } from '../record/index.js';
import { openNewestGeneration, writeSnapshotGeneration, type OffsetLog, type OffsetLogDir } from '../group/offset-log.js';
import { resolveShareConfig } from './share-config.js';
import type { ShareCoordinator } from './share-coordinator.js';
import { configRecord, decodeShareStateRecord, partitionRecord, snapshotMarker, updateRecord } from './share-state-records.js';
import { tpKey, type Clock, systemClock } from './types.js';

export { logManagerOffsetLogDir as logManagerShareStateDir, MemoryOffsetLogDir as MemoryShareStateDir } from '../group/offset-log.js';
export const SHARE_STATE_PREFIX = '__share_state';

export interface ShareStateLogOptions {
  clock?: Clock;
  /** Compact when records exceed this many times the live keys. Default 4. */
  compactRatio?: number;
  /** ...and at least this many records. Default 1000. */
  compactMinRecords?: number;
}

const READ_BYTES = 1 << 20;

export class ShareStateLog {
  private log!: OffsetLog;
  private gen = 0;
  private records = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private compacting = false;
  private readonly clock: Clock;
  private readonly compactRatio: number;
  private readonly compactMinRecords: number;
  /** Completed compactions since open. */
  compactions = 0;
  /** Records replayed by open() (for tests: replay stays bounded). */
  replayed = 0;

  private constructor(private readonly dir: OffsetLogDir, private readonly coord: ShareCoordinator, opts: ShareStateLogOptions) {
    this.clock = opts.clock ?? systemClock;
    this.compactRatio = opts.compactRatio ?? 4;
    this.compactMinRecords = opts.compactMinRecords ?? 1000;
  }

  /** Replays the newest complete generation into `coord` (which should be empty). */
  static async open(dir: OffsetLogDir, coord: ShareCoordinator, opts: ShareStateLogOptions = {}): Promise<ShareStateLog> {
    const s = new ShareStateLog(dir, coord, opts);
    const { gen, log } = await openNewestGeneration(dir, (l, last) => s.replay(l, last));
    s.gen = gen;
    s.log = log;
    coord.drainChanges(); // replay is already on disk
    return s;
  }

  get generation(): number {
    return this.gen;
  }

  /**
   * Writes the coordinator's changes since the last call as one batch. `durable` (default
   * true) resolves after fsync: use it before answering ack/reject/release; acquisitions may
   * use false (a crash then only under-counts a delivery).
   */
  persist(durable = true): Promise<void> {
    const { updates, configs } = this.coord.drainChanges();
    const now = this.clock.now();
    const records: RecordInput[] = [];
    for (const c of configs) records.push(configRecord(c.group, c.config, now));
    for (const u of updates) records.push(updateRecord(u.group, u.topic, u.partition, u.startOffset, u.runs, u, now));
    if (records.length === 0) return this.tail.then(() => undefined);
    const batch = encodeBatch(records, { now });
    return this.enqueue(async () => {
      await this.log.append(batch, { durable });
      this.records += records.length;
      if (!this.compacting && this.records >= this.compactMinRecords && this.records > this.compactRatio * this.liveKeys()) {
        this.compact().catch(() => undefined); // queued behind this write; this write already succeeded
      }
    });
  }

  /** Forces a snapshot into a new generation. */
  compact(): Promise<void> {
    return this.enqueue(() => this.compactNow());
  }

  async idle(): Promise<void> {
    await this.tail.catch(() => undefined);
  }

  stats(): { generation: number; records: number; liveKeys: number } {
    return { generation: this.gen, records: this.records, liveKeys: this.liveKeys() };
  }

  // --- internals ----------------------------------------------------------------

  private liveKeys(): number {
    let n = 0;
    for (const id of this.coord.groups()) n += 1 + this.coord.group(id)!.partitions.size;
    return n;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async compactNow(): Promise<void> {
    if (this.compacting) return;
    this.compacting = true;
    const next = this.gen + 1;
    try {
      const now = this.clock.now();
      const { log, records } = await writeSnapshotGeneration(
        this.dir, next, this.snapshotBatches(now), (n) => snapshotMarker(next, n, now), now);
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

  /** Every group's config and partition state, in batches of about 4096 runs, for a snapshot. */
  private *snapshotBatches(now: number): Generator<RecordInput[]> {
    let pending: RecordInput[] = [];
    let pendingRuns = 0;
    for (const id of this.coord.groups()) {
      const g = this.coord.group(id)!;
      pending.push(configRecord(id, g.config, now));
      for (const p of g.partitions.values()) {
        const runs = p.snapshotRuns();
        pending.push(partitionRecord(id, p.topic, p.partition, p.startOffset, runs, p, now));
        pendingRuns += runs.length + 1;
        if (pendingRuns >= 4096) {
          yield pending;
          pending = [];
          pendingRuns = 0;
        }
      }
    }
    yield pending;
  }

  /** Applies `log` to the coordinator; true when it holds a snapshot marker. */
  private async replay(log: OffsetLog, last: boolean): Promise<boolean> {
    // Read everything first so an incomplete generation does not leave state behind.
    const recs: { key: Buffer | null; value: Buffer | null }[] = [];
    let complete = false;
    let offset = log.logStartOffset;
    while (offset < log.logEndOffset) {
      const { bytes } = await log.read(offset, READ_BYTES);
      if (bytes.length === 0) break;
      for (const batch of decodeBatches(bytes)) {
        for (const r of batch.records) {
          if (r.offset < offset) continue;
          const d = decodeShareStateRecord(r.key, r.value);
          if (d.kind === 'snapshot') complete = true;
          recs.push({ key: r.key, value: r.value });
        }
        offset = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
      }
    }
    if (!complete && !last) return false;
    const now = this.clock.now();
    for (const r of recs) {
      const d = decodeShareStateRecord(r.key, r.value);
      if (d.kind === 'config') {
        let cfg;
        try {
          cfg = resolveShareConfig(this.coord.defaults, d.config);
        } catch {
          cfg = { ...this.coord.defaults }; // a value this version refuses: defaults rather than no start
        }
        this.coord.restoreGroup(d.group, cfg);
      } else if (d.kind === 'partition' || d.kind === 'update') {
        const g = this.coord.restoreGroup(d.group);
        if (d.kind === 'partition') g.partitions.delete(tpKey(d.topic, d.partition)); // a snapshot replaces
        const p = g.restoredPartition(d.topic, d.partition, d.start);
        p.restore(d.start, d.runs, now);
        p.acked = d.counters.acked;
        p.deadLettered = d.counters.deadLettered;
        p.redeliveries = d.counters.redeliveries;
      }
    }
    this.records = recs.length;
    this.replayed = recs.length;
    return complete;
  }
}
