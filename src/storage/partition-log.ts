/**
 * The on-disk PartitionLog: a directory `<data-dir>/<topic>-<partition>/` of segments
 * (segment.ts), a `recovery-point` file (decimal offset below which everything was fsynced;
 * written on roll and close) and, between a clean close and the next open, a
 * `.clean-shutdown` marker.
 *
 * Appends go through one queue per partition: validated synchronously at the call, then
 * written in call order. While one write is in flight, later appends pile up and go out
 * together in one writev. Durable appends share fsyncs (group commit, see sync()).
 */
import { join } from 'node:path';
import { maxTimestampOf, validateBatches } from '../record/index.js';
import { SluiceError } from '../errors.js';
import { CorruptLogError, OffsetOutOfRangeError, StorageError } from './errors.js';
import { MAX_U32, SEGMENT_FILE, Segment, deleteSegmentFiles, measureSegmentFile } from './segment.js';
import { Segments } from './segments.js';
import { readOptionalText, syncDir, writeFileAtomic } from './atomic-file.js';
import { checkSegmentStart, emptyReport, verifySegment, type PartitionVerifyReport } from './verify.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import type { AppendOptions, AppendResult, LogConfig, PartitionLog, PartitionStats, ReadOptions, ReadResult } from './types.js';

export type StorageLogger = (event: string, fields: Record<string, unknown>) => void;

export interface PartitionLogOptions {
  logger?: StorageLogger;
  /** Clock for segmentMs and retention; Date.now by default. */
  now?: () => number;
  /** Called after each segment log fsync with its duration (the broker's fsync histogram). */
  onFsync?: (seconds: number) => void;
  /** Where files live; node:fs by default. Tests pass a crash-simulating one (file-system.ts). */
  fs?: FileSystem;
}

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
export const RECOVERY_POINT_FILE = 'recovery-point';

interface Pending {
  buf: Buffer;
  records: number;
  durable: boolean;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
  baseOffset: number;
  lastOffset: number;
}

const EMPTY = Buffer.alloc(0);
const noop = () => {};

export class DiskPartitionLog implements PartitionLog {
  logStartOffset = 0;
  logEndOffset = 0;
  private queue: Pending[] = [];
  private spare: Pending[] = [];
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  private currentSync: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;
  private syncs = 0;
  private unflushedMessages = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private failed: Error | null = null;
  private readonly logger: StorageLogger;
  private readonly now: () => number;
  private readonly onFsync: ((seconds: number) => void) | undefined;
  private readonly fs: FileSystem;

  private constructor(
    readonly topic: string,
    readonly partition: number,
    readonly dir: string,
    readonly config: Readonly<LogConfig>,
    private segments: Segments,
    opts: PartitionLogOptions,
  ) {
    this.logger = opts.logger ?? noop;
    this.now = opts.now ?? Date.now;
    this.onFsync = opts.onFsync;
    this.fs = opts.fs ?? nodeFileSystem;
  }

  /** Opens (creating if needed) the partition directory, recovering it when it was not closed cleanly. */
  static async open(
    dir: string, topic: string, partition: number, config: Readonly<LogConfig>, opts: PartitionLogOptions = {},
  ): Promise<DiskPartitionLog> {
    const logger = opts.logger ?? noop;
    const fs = opts.fs ?? nodeFileSystem;
    await fs.mkdir(dir);
    const marker = join(dir, CLEAN_SHUTDOWN_FILE);
    const clean = await fs.stat(marker).then(() => true, () => false);
    const recoveryPoint = clean ? Infinity : Number((await readOptionalText(join(dir, RECOVERY_POINT_FILE), fs))?.trim() ?? 0) || 0;
    const bases = (await fs.readdir(dir)).map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null)
      .map((m) => Number(m![1])).sort((a, b) => a - b);
    const segments = new Segments();
    try {
      for (let i = 0; i < bases.length; i++) {
        const base = bases[i];
        const prev = segments.length > 0 ? segments.active : null;
        if (prev && prev.nextOffset !== base) {
          // A gap or overlap after a truncated segment: the later segments cannot be trusted.
          for (const b of bases.slice(i)) {
            const lost = await measureSegmentFile(dir, b, fs).catch(() => ({ bytes: 0, records: 0 }));
            logger('storage.recovery.segment-dropped', {
              topic, partition, segment: b, expectedOffset: prev.nextOffset, droppedBytes: lost.bytes, droppedRecords: lost.records,
            });
            await deleteSegmentFiles(dir, b, fs);
          }
          break;
        }
        // Segments holding offsets at or past the recovery point may have unflushed bytes.
        const nextBase = i + 1 < bases.length ? bases[i + 1] : Infinity;
        const recover = !clean && nextBase > recoveryPoint;
        const { segment, report } = await Segment.load(dir, base, config.indexIntervalBytes, recover, fs);
        segments.push(segment);
        if (report && report.droppedBytes > 0) {
          logger('storage.recovery.truncated', {
            topic, partition, segment: base, position: report.validBytes, droppedBytes: report.droppedBytes,
            droppedRecords: report.droppedRecords, offset: report.nextOffset, reason: report.reason,
          });
        } else if (report && !recover) {
          logger('storage.index.rebuilt', { topic, partition, segment: base });
        }
      }
      if (segments.length === 0) {
        segments.push(await Segment.create(dir, 0, config.indexIntervalBytes, fs));
        // fsync(2) of a new file does not make its name durable; without this a power loss
        // could drop the whole first segment, acknowledged durable appends included. (A roll
        // gets the same from the recovery-point write, which fsyncs the directory.)
        await syncDir(dir, fs);
      } else await segments.active.activate();
    } catch (err) {
      for (const s of segments.all()) await s.close().catch(noop);
      throw err instanceof SluiceError ? err : new StorageError(`cannot open log ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const log = new DiskPartitionLog(topic, partition, dir, config, segments, opts);
    log.logStartOffset = segments.first.baseOffset;
    log.logEndOffset = segments.active.nextOffset;
    if (clean) {
      await fs.unlink(marker);
      // Else a crash could bring the marker back, and the next open would skip the CRC scan.
      await syncDir(dir, fs);
    }
    return log;
  }

  append(batches: Buffer, opts?: AppendOptions): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} is closed`));
    if (this.failed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} failed: ${this.failed.message}`, { cause: this.failed }));
    let records: number;
    try {
      records = validateBatches(batches).records;
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ buf: batches, records, durable: opts?.durable === true, resolve, reject, baseOffset: 0, lastOffset: 0 });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.queue.length > 0) {
      const items = this.queue;
      this.queue = this.spare;
      await this.writeGroup(items);
      items.length = 0;
      this.spare = items;
    }
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Places and writes queued appends in order, rolling between them when needed. Never throws. */
  private async writeGroup(items: Pending[]): Promise<void> {
    let seg = this.segments.active;
    let from = 0;
    const bufs: Buffer[] = [];
    try {
      if (this.failed) throw this.failed;
      seg.mark();
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        if (this.shouldRoll(seg, it)) {
          if (bufs.length > 0) {
            await seg.commit(bufs);
            this.publish(items, from, i);
            bufs.length = 0;
            from = i;
          }
          seg = await this.roll();
          seg.mark();
        }
        it.baseOffset = seg.nextOffset;
        seg.place(it.buf, it.baseOffset);
        it.lastOffset = seg.nextOffset - 1;
        bufs.push(it.buf);
      }
      await seg.commit(bufs);
      this.publish(items, from, items.length);
    } catch (err) {
      try {
        await seg.rollback();
      } catch (err2) {
        // The file may now hold bytes the log does not account for; stop appending until reopened (recovery fixes it).
        this.failed = err2 as Error;
        this.logger('storage.log.failed', { topic: this.topic, partition: this.partition, error: String(err2) });
      }
      const e = err instanceof SluiceError ? err : new StorageError(`append to ${this.topic}-${this.partition} failed: ${(err as Error).message}`, { cause: err });
      for (let i = from; i < items.length; i++) items[i].reject(e);
    }
  }

  private shouldRoll(seg: Segment, it: Pending): boolean {
    const size = seg.placedBytes;
    if (size === 0) return false;
    if (size + it.buf.length > this.config.segmentBytes || size + it.buf.length > MAX_U32) return true;
    if (seg.nextOffset + it.records - 1 - seg.baseOffset > MAX_U32) return true;
    // As in Kafka, segment age is measured in record time: incoming maxTimestamp - first batch's.
    return seg.firstTimestamp >= 0 && maxTimestampOf(it.buf, 0) - seg.firstTimestamp > this.config.segmentMs;
  }

  private async roll(): Promise<Segment> {
    const old = this.segments.active;
    await this.sync();
    await old.seal();
    const seg = await Segment.create(this.dir, old.nextOffset, this.config.indexIntervalBytes, this.fs);
    this.segments.push(seg);
    await writeFileAtomic(join(this.dir, RECOVERY_POINT_FILE), String(seg.baseOffset), this.fs);
    return seg;
  }

  private publish(items: Pending[], from: number, to: number): void {
    const end = items[to - 1].lastOffset + 1;
    this.logEndOffset = end;
    let durable: Pending[] | null = null;
    for (let i = from; i < to; i++) {
      const it = items[i];
      this.unflushedMessages += it.records;
      if (it.durable) (durable ??= []).push(it);
      else it.resolve({ baseOffset: it.baseOffset, lastOffset: it.lastOffset, logEndOffset: end });
    }
    if (durable) {
      const list = durable;
      this.sync().then(
        () => { for (const it of list) it.resolve({ baseOffset: it.baseOffset, lastOffset: it.lastOffset, logEndOffset: end }); },
        (err) => { for (const it of list) it.reject(err); },
      );
    } else if (this.config.flushMessages > 0 && this.unflushedMessages >= this.config.flushMessages) {
      this.backgroundSync();
    }
    if (this.config.flushMs >= 0 && this.flushTimer === null && this.unflushedMessages > 0) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.backgroundSync();
      }, this.config.flushMs);
      this.flushTimer.unref();
    }
  }

  private backgroundSync(): void {
    this.sync().catch((err) => this.logger('storage.flush.failed', { topic: this.topic, partition: this.partition, error: String(err) }));
  }

  /**
   * Group commit: resolves once every byte written before the call is fsynced. If an fsync
   * is already running it may have started before this caller's bytes were written, so the
   * caller waits for the next one; all callers arriving meanwhile share that next fsync.
   */
  private sync(): Promise<void> {
    if (this.nextSync) return this.nextSync;
    if (!this.currentSync) return this.startSync();
    const next = this.currentSync.then(noop, noop).then(() => {
      this.nextSync = null;
      return this.startSync();
    });
    this.nextSync = next;
    return next;
  }

  private startSync(): Promise<void> {
    const p: Promise<void> = this.runSync().finally(() => {
      if (this.currentSync === p) this.currentSync = null;
    });
    this.currentSync = p;
    return p;
  }

  private async runSync(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    this.unflushedMessages = 0;
    const jobs: Promise<void>[] = [];
    for (const s of this.segments.all()) if (s.flushedSize !== s.size) jobs.push(this.onFsync ? this.timedSync(s) : s.sync());
    if (jobs.length === 0) return;
    this.syncs++;
    await Promise.all(jobs);
  }

  private async timedSync(s: Segment): Promise<void> {
    const t0 = performance.now();
    await s.sync();
    this.onFsync!((performance.now() - t0) / 1000);
  }

  /** Number of fsync rounds so far (one round may cover several segments). */
  get fsyncCount(): number {
    return this.syncs;
  }

  async read(offset: number, maxBytes: number, opts?: ReadOptions): Promise<ReadResult> {
    const start = this.logStartOffset;
    const end = this.logEndOffset;
    if (!Number.isSafeInteger(offset) || offset < start || offset > end) throw new OffsetOutOfRangeError(offset, start, end);
    if (offset === end) return { bytes: EMPTY, logStartOffset: start, logEndOffset: end };
    const seg = this.segments.floor(offset);
    if (!seg) throw new OffsetOutOfRangeError(offset, start, end);
    if (this.closed && !this.draining) throw new StorageError(`log ${this.topic}-${this.partition} is closed`);
    seg.acquire();
    try {
      // NaN, negative or huge limits mean "the first batch only" / "at most 2 GiB".
      const limit = maxBytes > 0 ? Math.min(maxBytes, 0x7fff_ffff) : 0;
      const bytes = await seg.read(offset, limit, this.config.indexIntervalBytes, opts);
      return { bytes, logStartOffset: this.logStartOffset, logEndOffset: this.logEndOffset };
    } catch (err) {
      if (err instanceof CorruptLogError) {
        const e = err.in(this.topic, this.partition);
        this.logger('storage.read.corrupt', {
          topic: this.topic, partition: this.partition, offset: e.offset, segment: e.segment, position: e.position, reason: e.reason, readOffset: offset,
        });
        throw e;
      }
      throw err instanceof SluiceError ? err : new StorageError(`read of ${this.topic}-${this.partition} at ${offset} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      seg.release();
    }
  }

  async offsetForTimestamp(ts: number): Promise<number | null> {
    for (const seg of this.segments.all()) {
      if (seg.maxTimestamp < ts) continue;
      seg.acquire();
      try {
        const found = await seg.findTimestamp(ts);
        if (found !== null) return Math.max(found, this.logStartOffset);
      } finally {
        seg.release();
      }
    }
    return null;
  }

  /**
   * Checks every stored batch, CRC included (verify.ts), up to what is committed now; appends
   * may continue meanwhile. Segments are held so retention cannot delete them mid-walk.
   */
  async verify(): Promise<PartitionVerifyReport> {
    const segs = this.segments.all().slice();
    for (const s of segs) s.acquire();
    const report = emptyReport();
    try {
      let next: number | null = null;
      for (const s of segs) {
        checkSegmentStart(report, s.baseOffset, next);
        next = await verifySegment(s.fh, s.baseOffset, s.size, report);
      }
    } finally {
      for (const s of segs) s.release();
    }
    return report;
  }

  stats(): PartitionStats {
    return {
      logStartOffset: this.logStartOffset,
      logEndOffset: this.logEndOffset,
      sizeBytes: this.segments.sizeBytes(),
      segmentCount: this.segments.length,
      fsyncCount: this.syncs,
    };
  }

  async flush(): Promise<void> {
    await this.sync();
  }

  async enforceRetention(now = this.now()): Promise<number> {
    const { retentionMs, retentionBytes } = this.config;
    if (retentionMs < 0 && retentionBytes < 0) return 0;
    let total = this.segments.sizeBytes();
    let deleted = 0;
    while (this.segments.length > 1) {
      const s = this.segments.first;
      const byTime = retentionMs >= 0 && s.maxTimestamp < now - retentionMs;
      const bySize = retentionBytes >= 0 && total - s.size >= retentionBytes;
      if (!byTime && !bySize) break;
      this.segments.shift();
      total -= s.size;
      this.logStartOffset = this.segments.first.baseOffset;
      this.logger('storage.retention.deleted', {
        topic: this.topic, partition: this.partition, segment: s.baseOffset, bytes: s.size, reason: byTime ? 'time' : 'size',
      });
      await s.delete();
      deleted++;
    }
    return deleted;
  }

  private whenIdle(): Promise<void> {
    if (!this.draining) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.whenIdle();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.sync();
    for (const s of this.segments.all()) await s.close();
    if (this.failed) return; // no marker: the next open must recover
    await writeFileAtomic(join(this.dir, RECOVERY_POINT_FILE), String(this.logEndOffset), this.fs);
    await writeFileAtomic(join(this.dir, CLEAN_SHUTDOWN_FILE), '', this.fs);
  }
}
