/**
 * The on-disk PartitionLog: a directory `<data-dir>/<topic>-<partition>/` of segments
 * (segment.ts), a `recovery-point` file (decimal offset below which everything was fsynced;
 * written on roll, truncation and close), a `leader-epoch-checkpoint` once a leader epoch
 * was written (leader-epoch-checkpoint.ts), a `producer-state.snapshot` once the log was rolled
 * or closed (producer-state-file.ts) and, from a clean close until the next change after the
 * next open, a `.clean-shutdown` marker (see unmarkClean).
 *
 * Appends go through one queue per partition: validated synchronously at the call, then
 * written in call order. While one write is in flight, later appends pile up and go out
 * together in one writev. Durable appends share fsyncs (group commit, see sync()).
 * Truncation (truncateTo) goes through the same queue, so it sees no append half done.
 *
 * Idempotent producers (KIP-98): a leader append's batches that carry a producer id are
 * checked against the partition's ProducerStateTable (producer-state.ts) in the queue, in
 * order, just before they are placed, so two appends of the same batch can never both pass:
 * a retry of one of the producer's last five batches is not written and is answered with the
 * offsets of the first store (AppendResult.duplicate); a gap, an older epoch or an unknown
 * producer continuing a sequence is refused. Accepted batches are recorded as they are placed
 * and forgotten again if their write fails. Follower appends record without checking.
 */
import { join } from 'node:path';
import {
  BASE_OFFSET, BASE_SEQUENCE, BATCH_LENGTH, LAST_OFFSET_DELTA, LOG_OVERHEAD, PARTITION_LEADER_EPOCH, PRODUCER_EPOCH, PRODUCER_ID,
  maxTimestampOf, readInt64, validateBatches,
} from '../record/index.js';
import { SluiceError } from '../errors.js';
import {
  CorruptLogError, InvalidAppendError, OffsetOutOfRangeError, OutOfOrderSequenceError, StorageError, UnexpectedAppendOffsetError,
} from './errors.js';
import { MAX_U32, SEGMENT_FILE, Segment, deleteSegmentFiles, measureSegmentFile } from './segment.js';
import { Segments } from './segments.js';
import { readOptionalText, syncDir, writeFileAtomic } from './atomic-file.js';
import { checkSegmentStart, emptyReport, verifySegment, type PartitionVerifyReport } from './verify.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import { unboundedOpenFiles, type OpenFileCache } from './open-file-cache.js';
import { LeaderEpochCache, type EpochEndOffset, type EpochEntry } from './leader-epoch-cache.js';
import { CheckpointFormatError, LEADER_EPOCH_CHECKPOINT_FILE, epochsFromSegments, readCheckpoint, writeCheckpoint } from './leader-epoch-checkpoint.js';
import { lastSequenceOf, nextSequence, ProducerStateTable, type ProducerBatch } from './producer-state.js';
import { PRODUCER_STATE_FILE, readProducerSnapshot, replayProducerState, writeProducerSnapshot } from './producer-state-file.js';
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
  /**
   * Producer ids idle this long are dropped from the partition's producer state when
   * retention runs (Kafka's producer.id.expiration.ms); their next batch must start a new
   * sequence. Default 1 day.
   */
  producerIdExpirationMs?: number;
  /**
   * The broker's budget of open segment files (open-file-cache.ts), shared by every log; a
   * log opened without one uses an unbounded cache that still retries EMFILE.
   */
  openFiles?: OpenFileCache;
}

export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 24 * 3600 * 1000;

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
export const RECOVERY_POINT_FILE = 'recovery-point';
/**
 * The log start offset when it is past the first segment's base (advanceLogStartOffset:
 * Kafka's log-start-offset checkpoint). Absent, the log starts at its first segment.
 */
export const LOG_START_OFFSET_FILE = 'log-start-offset';

interface Pending {
  buf: Buffer;
  records: number;
  durable: boolean;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
  baseOffset: number;
  lastOffset: number;
  /** Leader epoch stamped into the batches (AppendOptions.leaderEpoch), -1 for none. */
  epoch: number;
  /** AppendOptions.asFollower: offsets and epochs as they arrived. */
  follower: boolean;
  /** AppendOptions.inPlace. */
  inPlace: boolean;
  /** Refused in the queue (a follower append that does not continue the log, a producer's bad sequence); already rejected. */
  skip: boolean;
  /** A producer's retry of batches already stored: not written, answered with baseOffset..lastOffset of the first store. */
  dup: boolean;
  /** Not an append: work that runs alone between writes (truncation); settles its own promise. */
  op: (() => Promise<void>) | null;
}

/** The largest leader epoch a batch header holds (partitionLeaderEpoch is an i32). */
const MAX_EPOCH = 0x7fff_ffff;

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
  private readonly files: OpenFileCache;
  /** Ops (truncations) waiting in the queue; while 0, drain writes whole groups without looking for them. */
  private queuedOps = 0;
  /** Bumped when a truncation starts and when it ends: a read that saw it change reads again. */
  private truncations = 0;
  /** The running truncation, which reads wait for. */
  private truncation: Promise<unknown> | null = null;
  /** Checkpoint writes, one at a time (appends, truncation and retention all change the cache). */
  private epochWrite: Promise<void> = Promise.resolve();
  private readonly producerIdExpirationMs: number;
  /**
   * The `.clean-shutdown` marker is still on disk: opened clean and nothing written since. The
   * files are then exactly as the clean close left them, so a crash now may reopen without a
   * scan, and a close has nothing to write. The first change removes it (unmarkClean).
   */
  private cleanMarker = false;
  private unmarking: Promise<void> | null = null;

  private constructor(
    readonly topic: string,
    readonly partition: number,
    readonly dir: string,
    readonly config: Readonly<LogConfig>,
    private segments: Segments,
    private readonly epochs: LeaderEpochCache,
    /** Idempotent producers' last batches; only the append queue changes it. */
    private producers: ProducerStateTable,
    opts: PartitionLogOptions,
  ) {
    this.producerIdExpirationMs = opts.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS;
    this.logger = opts.logger ?? noop;
    this.now = opts.now ?? Date.now;
    this.onFsync = opts.onFsync;
    this.files = opts.openFiles ?? unboundedOpenFiles;
    this.fs = this.files.guard(opts.fs ?? nodeFileSystem);
  }

  /**
   * Opens (creating if needed) the partition directory, recovering it when it was not closed
   * cleanly. `fresh` (a topic being created or grown): whatever the directory holds is a
   * leftover of a deleted topic of that name (a crash between removing its metadata and its
   * files) and is removed first.
   */
  static async open(
    dir: string, topic: string, partition: number, config: Readonly<LogConfig>, opts: PartitionLogOptions = {}, fresh = false,
  ): Promise<DiskPartitionLog> {
    const logger = opts.logger ?? noop;
    const files = opts.openFiles ?? unboundedOpenFiles;
    // Every open storage makes retries EMFILE after closing idle segment files (open-file-cache.ts).
    const fs = files.guard(opts.fs ?? nodeFileSystem);
    let made = await fs.mkdir(dir);
    if (!made && fresh) {
      await fs.rm(dir);
      made = await fs.mkdir(dir);
    }
    // One listing says which of the optional files exist: a missing one is not opened only to
    // fail with ENOENT. A directory made just now holds nothing, so a new partition (every
    // one of a topic being created) is not even listed: that listing and the removal of a
    // leftover that was not there were 7 of its ~20 file calls.
    const names = new Set(made ? [] : await fs.readdir(dir));
    const has = (name: string) => names.has(name);
    const marker = join(dir, CLEAN_SHUTDOWN_FILE);
    const clean = has(CLEAN_SHUTDOWN_FILE);
    const recoveryPoint = clean ? Infinity : has(RECOVERY_POINT_FILE) ? Number((await readOptionalText(join(dir, RECOVERY_POINT_FILE), fs))?.trim() ?? 0) || 0 : 0;
    const bases = [...names].map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null)
      .map((m) => Number(m![1])).sort((a, b) => a - b);
    const segments = new Segments();
    let epochs: LeaderEpochCache;
    let producers: ProducerStateTable;
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
        const { segment, report } = await Segment.load(dir, base, config.indexIntervalBytes, recover, fs, files);
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
        segments.push(await Segment.create(dir, 0, config.indexIntervalBytes, fs, files));
        // fsync(2) of a new file does not make its name durable; without this a power loss
        // could drop the whole first segment, acknowledged durable appends included. (A roll
        // gets the same from the recovery-point write, which fsyncs the directory.)
        await syncDir(dir, fs);
      } else segments.active.activate();
      epochs = await loadEpochs(dir, topic, partition, segments, logger, fs, has(LEADER_EPOCH_CHECKPOINT_FILE));
      producers = await loadProducers(dir, topic, partition, segments, logger, fs, has(PRODUCER_STATE_FILE));
    } catch (err) {
      for (const s of segments.all()) await s.close().catch(noop);
      throw err instanceof SluiceError ? err : new StorageError(`cannot open log ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const log = new DiskPartitionLog(topic, partition, dir, config, segments, epochs, producers, opts);
    log.logEndOffset = segments.active.nextOffset;
    const savedStart = has(LOG_START_OFFSET_FILE) ? Number((await readOptionalText(join(dir, LOG_START_OFFSET_FILE), fs))?.trim() ?? 0) || 0 : 0;
    // Recovery may have cut the log below the saved start: it cannot start past its end.
    log.logStartOffset = Math.max(segments.first.baseOffset, Math.min(savedStart, log.logEndOffset));
    // The marker stays until the first change (unmarkClean): an idle partition's restart then
    // costs no unlink and no directory fsync at open, and nothing at all at close. With
    // 20,000 partitions that was 4 of a clean open's ~25 file calls and all 10 of an
    // untouched partition's close (test/integration/open-files.test.ts).
    log.cleanMarker = clean;
    return log;
  }

  append(batches: Buffer, opts?: AppendOptions): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} is closed`));
    if (this.failed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} failed: ${this.failed.message}`, { cause: this.failed }));
    let records: number;
    let epoch = -1;
    let follower = false;
    try {
      records = validateBatches(batches).records;
      if (opts !== undefined && (opts.leaderEpoch !== undefined || opts.asFollower === true)) {
        if (opts.asFollower === true) {
          if (opts.leaderEpoch !== undefined) throw new InvalidAppendError('an append takes leaderEpoch (as leader) or asFollower, not both');
          checkContiguous(batches);
          follower = true;
        } else {
          epoch = opts.leaderEpoch!;
          if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new InvalidAppendError(`leader epoch ${epoch} is not an integer in [0, ${MAX_EPOCH}]`);
          stampEpoch(batches, epoch);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({
        buf: batches, records, durable: opts?.durable === true, inPlace: opts?.inPlace === true, resolve, reject, baseOffset: 0, lastOffset: 0, epoch, follower, skip: false, dup: false, op: null,
      });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.queue.length > 0) {
      const items = this.queue;
      this.queue = this.spare;
      if (this.queuedOps === 0) await this.writeGroup(items, 0, items.length);
      else await this.writeWithOps(items);
      items.length = 0;
      this.spare = items;
    }
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Runs the ops among `items` alone, each after the appends queued before it were written. */
  private async writeWithOps(items: Pending[]): Promise<void> {
    let from = 0;
    for (let i = 0; i < items.length; i++) {
      const op = items[i].op;
      if (op === null) continue;
      if (i > from) await this.writeGroup(items, from, i);
      this.queuedOps--;
      await op();
      from = i + 1;
    }
    if (from < items.length) await this.writeGroup(items, from, items.length);
  }

  /** Places and writes queued appends `items[start, end)` in order, rolling between them when needed. Never throws. */
  private async writeGroup(items: Pending[], start: number, end: number): Promise<void> {
    let seg = this.segments.active;
    let from = start;
    const bufs: Buffer[] = [];
    // Whether every append in `bufs` asked to be written in place (AppendOptions.inPlace).
    let inPlace = true;
    // The cache changed for batches about to be written: the checkpoint goes first (below).
    let epochsChanged = false;
    if (this.cleanMarker) {
      try {
        await this.unmarkClean();
      } catch (err) {
        // Nothing placed yet: refuse the group whole; the next append tries the removal again.
        const e = new StorageError(`append to ${this.topic}-${this.partition} failed: cannot remove ${CLEAN_SHUTDOWN_FILE}: ${(err as Error).message}`, { cause: err });
        for (let i = start; i < end; i++) items[i].reject(e);
        return;
      }
    }
    try {
      if (this.failed) throw this.failed;
      seg.mark();
      for (let i = start; i < end; i++) {
        const it = items[i];
        if (it.follower && readInt64(it.buf, BASE_OFFSET) !== seg.nextOffset) {
          it.skip = true;
          it.reject(new UnexpectedAppendOffsetError(readInt64(it.buf, BASE_OFFSET), seg.nextOffset));
          continue;
        }
        let idempotent: ProducerBatch[] | null = null;
        if (!it.follower) {
          try {
            idempotent = this.checkProducers(it);
          } catch (err) {
            it.skip = true;
            it.reject(err);
            continue;
          }
          if (it.dup) continue;
        }
        if (this.shouldRoll(seg, it)) {
          if (bufs.length > 0) {
            if (epochsChanged) await this.persistEpochs();
            epochsChanged = false;
            await seg.commit(bufs, inPlace);
            this.publish(items, from, i, seg.nextOffset);
            bufs.length = 0;
            inPlace = true;
            from = i;
          }
          seg = await this.roll();
          seg.mark();
        }
        it.baseOffset = seg.nextOffset;
        // A follower's batches already hold these offsets (checked above and in append): stamping rewrites the same values.
        seg.place(it.buf, it.baseOffset);
        it.lastOffset = seg.nextOffset - 1;
        if (idempotent !== null) this.recordProducers(it.buf, idempotent);
        else if (it.follower) this.recordFollowerProducers(it.buf);
        if (it.epoch >= 0) epochsChanged = this.epochs.assign(it.epoch, it.baseOffset) || epochsChanged;
        else if (it.follower) epochsChanged = this.assignBatchEpochs(it.buf) || epochsChanged;
        bufs.push(it.buf);
        inPlace &&= it.inPlace;
      }
      // As Kafka: the checkpoint names an epoch before any batch of it is on disk. A crash in
      // between leaves an entry past the log end, which the next open removes; the other order
      // could leave batches of an epoch the checkpoint does not know.
      if (epochsChanged) await this.persistEpochs();
      await seg.commit(bufs, inPlace);
      this.publish(items, from, end, seg.nextOffset);
    } catch (err) {
      try {
        await seg.rollback();
      } catch (err2) {
        // The file may now hold bytes the log does not account for; stop appending until reopened (recovery fixes it).
        this.failed = err2 as Error;
        this.logger('storage.log.failed', { topic: this.topic, partition: this.partition, error: String(err2) });
      }
      // Epochs assigned and producer batches recorded for batches that were not written.
      if (this.epochs.truncateFromEnd(this.logEndOffset)) this.persistEpochsInBackground();
      this.producers.truncateTo(this.logEndOffset);
      const e = err instanceof SluiceError ? err : new StorageError(`append to ${this.topic}-${this.partition} failed: ${(err as Error).message}`, { cause: err });
      for (let i = from; i < end; i++) items[i].reject(e);
    }
  }

  /**
   * The producer check of a leader append (see the file comment): null when no batch carries
   * a producer id (one header read per batch); the batches to record once placed; or, for a
   * retry of stored batches, marks `it` as a duplicate answered with the first store's
   * offsets. Throws OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH or
   * UNKNOWN_PRODUCER_ID (nothing of the append is stored). A record set of several batches of
   * one producer must continue its own sequence, and is a duplicate only as a whole.
   */
  private checkProducers(it: Pending): ProducerBatch[] | null {
    const buf = it.buf;
    let out: ProducerBatch[] | null = null;
    let dups = 0;
    let plain = 0;
    let firstDup = 0;
    let lastDup = 0;
    for (let off = 0; off < buf.length; off += buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD) {
      const producerId = readInt64(buf, off + PRODUCER_ID);
      if (producerId < 0) {
        plain++;
        continue;
      }
      const baseSequence = buf.readInt32BE(off + BASE_SEQUENCE);
      const b: ProducerBatch = {
        producerId, producerEpoch: buf.readInt16BE(off + PRODUCER_EPOCH), baseSequence,
        lastSequence: lastSequenceOf(baseSequence, buf.readInt32BE(off + LAST_OFFSET_DELTA) + 1),
      };
      const prev = out?.findLast((x) => x.producerId === producerId);
      if (prev !== undefined) {
        if (b.producerEpoch !== prev.producerEpoch || b.baseSequence !== nextSequence(prev.lastSequence)) {
          throw new OutOfOrderSequenceError(`producer ${producerId}: a batch of the record set starts at sequence ${b.baseSequence} (epoch ${b.producerEpoch}), expected ${nextSequence(prev.lastSequence)} (epoch ${prev.producerEpoch}) after the batch before it`);
        }
      } else {
        const c = this.producers.check(b);
        if (c.kind === 'duplicate') {
          if (dups === 0) firstDup = c.firstOffset;
          lastDup = c.lastOffset;
          dups++;
          continue;
        }
      }
      (out ??= []).push(b);
    }
    if (dups === 0) return out;
    if (out !== null || plain > 0) {
      throw new OutOfOrderSequenceError(`the record set mixes ${dups} batch(es) already stored (a retry) with new ones; send a retry as it was first sent`);
    }
    it.dup = true;
    it.baseOffset = firstDup;
    it.lastOffset = lastDup;
    return null;
  }

  /** Records the accepted producer batches of a leader append, placed (offsets stamped) just now. */
  private recordProducers(buf: Buffer, batches: ProducerBatch[]): void {
    const now = this.now();
    let k = 0;
    for (let off = 0; off < buf.length && k < batches.length; off += buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD) {
      if (readInt64(buf, off + PRODUCER_ID) < 0) continue;
      const base = readInt64(buf, off + BASE_OFFSET);
      this.producers.record(batches[k++], base, base + buf.readInt32BE(off + LAST_OFFSET_DELTA), now);
    }
  }

  /** A follower records what the leader stored, unchecked: the leader decided, and a new leader must dedup too. */
  private recordFollowerProducers(buf: Buffer): void {
    let now = -1;
    for (let off = 0; off < buf.length; off += buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD) {
      const producerId = readInt64(buf, off + PRODUCER_ID);
      if (producerId < 0) continue;
      if (now < 0) now = this.now();
      const base = readInt64(buf, off + BASE_OFFSET);
      const delta = buf.readInt32BE(off + LAST_OFFSET_DELTA);
      const baseSequence = buf.readInt32BE(off + BASE_SEQUENCE);
      this.producers.record(
        { producerId, producerEpoch: buf.readInt16BE(off + PRODUCER_EPOCH), baseSequence, lastSequence: lastSequenceOf(baseSequence, delta + 1) },
        base, base + delta, now,
      );
    }
  }

  /** A follower's batches: each epoch's first batch starts it in the cache. */
  private assignBatchEpochs(buf: Buffer): boolean {
    let changed = false;
    for (let off = 0; off < buf.length; off += buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD) {
      const epoch = buf.readInt32BE(off + PARTITION_LEADER_EPOCH);
      if (epoch >= 0) changed = this.epochs.assign(epoch, readInt64(buf, off + BASE_OFFSET)) || changed;
    }
    return changed;
  }

  /** Writes the cache's current entries to the checkpoint, after any write already running. */
  private persistEpochs(): Promise<void> {
    const p = this.epochWrite.then(() => writeCheckpoint(this.dir, this.epochs.entries(), this.fs));
    this.epochWrite = p.catch(noop);
    return p;
  }

  private persistEpochsInBackground(): void {
    this.persistEpochs().catch((err) => this.logger('storage.leader-epoch.write-failed', { topic: this.topic, partition: this.partition, error: String(err) }));
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
    const seg = await Segment.create(this.dir, old.nextOffset, this.config.indexIntervalBytes, this.fs, this.files);
    this.segments.push(seg);
    await writeFileAtomic(join(this.dir, RECOVERY_POINT_FILE), String(seg.baseOffset), this.fs);
    // Every batch before the new segment is recorded (the queue placed it) and fsynced (above):
    // after a crash, recovery replays the new segment only.
    await this.snapshotProducers(seg.baseOffset);
    return seg;
  }

  /**
   * Writes the producer state as of `offset` (the table must describe exactly the batches
   * below it). A failed write keeps the older snapshot, which stays correct (more is replayed
   * at open), so it is logged, not thrown.
   */
  private async snapshotProducers(offset: number, syncDirectory = true): Promise<void> {
    try {
      await writeProducerSnapshot(this.dir, this.producers, offset, this.fs, { syncDirectory });
    } catch (err) {
      this.logger('storage.producer-state.write-failed', { topic: this.topic, partition: this.partition, offset, error: String(err) });
    }
  }

  private publish(items: Pending[], from: number, to: number, end: number): void {
    this.logEndOffset = end;
    let durable: Pending[] | null = null;
    for (let i = from; i < to; i++) {
      const it = items[i];
      if (it.skip) continue;
      if (!it.dup) this.unflushedMessages += it.records;
      // A duplicate's first store may still be unflushed: a durable one waits for the same fsync.
      if (it.durable) (durable ??= []).push(it);
      else it.resolve(resultOf(it, end));
    }
    if (durable) {
      const list = durable;
      this.sync().then(
        () => { for (const it of list) it.resolve(resultOf(it, end)); },
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

  /**
   * Removes every record at or after `offset` (the batch holding it goes whole, so the new
   * log end offset may be below `offset`; Kafka truncates to batch boundaries too) and
   * resolves with the new log end offset once that is durable: later segments deleted, the
   * one holding `offset` cut and fsynced, its indexes rebuilt, `recovery-point` rewritten
   * (which fsyncs the directory, making the deletions durable), and the leader-epoch
   * checkpoint cut to the new end. `offset` = log end offset changes nothing; outside
   * [logStartOffset, logEndOffset] throws OffsetOutOfRangeError.
   *
   * Runs in the append queue: appends made before the call are written (and fsynced) first,
   * appends made after it get offsets from the new end. A read running meanwhile reads
   * again afterwards, so it never returns bytes of the removed tail: past the new end it
   * gets OffsetOutOfRangeError.
   *
   * Crash safety: segments are deleted from the last one back, then the kept one is cut, so
   * a crash part-way leaves a prefix of the old log that is longer than asked (the caller,
   * which was not answered, truncates again); the epoch cache is cut to the log end at open.
   */
  truncateTo(offset: number): Promise<number> {
    return this.queueTruncation(() => this.truncateNow(offset));
  }

  /**
   * Kafka's truncateFullyAndStartAt: removes every segment and the leader-epoch cache, and
   * restarts the log empty at `offset` (log start = log end = offset). For a follower whose
   * leader's log start has passed its log end (OFFSET_OUT_OF_RANGE on a replica fetch):
   * nothing it holds can be continued, and the leader has nothing before `offset` to send.
   * Ordered with appends like truncateTo; reads running meanwhile read again afterwards.
   *
   * Crash safety: segments are deleted from the last one back before the new one is
   * created, so a crash part-way leaves a prefix of the old log (or, with every segment gone,
   * an empty log at 0 on the next open); the caller, not answered, does it again.
   */
  truncateFullyAndStartAt(offset: number): Promise<number> {
    return this.queueTruncation(() => this.restartAtNow(offset));
  }

  /**
   * Kafka's maybeIncrementLogStartOffset (DeleteRecords): records before `offset` are no
   * longer served (reads below it get OffsetOutOfRangeError), and every segment wholly below
   * it is deleted; the bytes before `offset` in the segment that holds it stay until that
   * segment is deleted in turn. The new start is durable when this resolves. A start at or
   * below the current one changes nothing. Ordered with appends; `offset` past the log end
   * is an OffsetOutOfRangeError.
   */
  advanceLogStartOffset(offset: number): Promise<number> {
    return this.queueTruncation(() => this.advanceStartNow(offset));
  }

  private async advanceStartNow(offset: number): Promise<number> {
    const end = this.logEndOffset;
    if (!Number.isSafeInteger(offset) || offset > end) throw new OffsetOutOfRangeError(offset, this.logStartOffset, end);
    if (offset <= this.logStartOffset) return this.logStartOffset;
    await this.unmarkClean();
    const from = this.logStartOffset;
    // Durable before any segment goes: a crash after a deletion must not reopen below it with a hole.
    await writeFileAtomic(join(this.dir, LOG_START_OFFSET_FILE), String(offset), this.fs);
    this.logStartOffset = offset;
    let deleted = 0;
    while (this.segments.length > 1 && this.segments.at(1).baseOffset <= offset) {
      const s = this.segments.shift()!;
      deleted++;
      this.logger('storage.log-start.segment-deleted', { topic: this.topic, partition: this.partition, segment: s.baseOffset, bytes: s.size });
      await s.delete();
    }
    if (this.epochs.truncateFromStart(offset)) await this.persistEpochs();
    this.logger('storage.log-start.advanced', { topic: this.topic, partition: this.partition, oldStartOffset: from, logStartOffset: offset, segmentsDeleted: deleted });
    return offset;
  }

  /** Runs a truncation in the append queue, alone, with reads waiting for it (see read()). */
  private queueTruncation(run: () => Promise<number>): Promise<number> {
    if (this.closed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} is closed`));
    if (this.failed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} failed: ${this.failed.message}`, { cause: this.failed }));
    return new Promise((resolve, reject) => {
      const op = async () => {
        const running = run();
        this.truncation = running;
        this.truncations++;
        try {
          resolve(await running);
        } catch (err) {
          reject(err);
        } finally {
          this.truncation = null;
          this.truncations++;
        }
      };
      this.enqueueOp(op);
    });
  }

  /** Queues `op` to run alone between writes, after the appends queued before it. */
  private enqueueOp(op: () => Promise<void>): void {
    this.queuedOps++;
    this.queue.push({
      buf: EMPTY, records: 0, durable: false, inPlace: false, resolve: noop, reject: noop, baseOffset: 0, lastOffset: 0, epoch: -1, follower: false, skip: false, dup: false, op,
    });
    if (!this.draining) void this.drain();
  }

  assignLeaderEpoch(epoch: number): Promise<void> {
    if (this.closed) return Promise.reject(new StorageError(`log ${this.topic}-${this.partition} is closed`));
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) return Promise.reject(new InvalidAppendError(`leader epoch ${epoch} is not an integer in [0, ${MAX_EPOCH}]`));
    return new Promise((resolve, reject) => {
      this.enqueueOp(async () => {
        try {
          if (this.epochs.assign(epoch, this.logEndOffset)) {
            await this.unmarkClean();
            await this.persistEpochs();
          }
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  private async truncateNow(offset: number): Promise<number> {
    const end = this.logEndOffset;
    if (!Number.isSafeInteger(offset) || offset < this.logStartOffset || offset > end) throw new OffsetOutOfRangeError(offset, this.logStartOffset, end);
    if (offset === end) return end;
    if (this.failed) throw new StorageError(`log ${this.topic}-${this.partition} failed: ${this.failed.message}`, { cause: this.failed });
    await this.unmarkClean();
    try {
      // Everything written before is fsynced first: durable appends waiting for it are
      // answered, and no fsync runs on a segment this deletes.
      await this.sync();
      let keep = this.segments.floorIndex(offset);
      // A segment starting exactly at `offset` goes whole, unless it is the only one left.
      if (keep > 0 && this.segments.at(keep).baseOffset === offset) keep--;
      const dropped = this.segments.dropFrom(keep + 1);
      const kept = this.segments.active;
      for (let i = dropped.length - 1; i >= 0; i--) {
        const s = dropped[i];
        this.logger('storage.truncate.segment-deleted', { topic: this.topic, partition: this.partition, segment: s.baseOffset, bytes: s.size });
        // Waits for reads holding it: a segment with this base offset may be created again soon.
        await s.deleteAndWait();
      }
      if (!kept.writable) kept.activate();
      const newEnd = await kept.truncateTo(offset);
      this.logEndOffset = newEnd;
      await writeFileAtomic(join(this.dir, RECOVERY_POINT_FILE), String(kept.baseOffset), this.fs);
      if (this.epochs.truncateFromEnd(newEnd)) await this.persistEpochs();
      await this.rebuildProducers(newEnd);
      this.logger('storage.truncated', { topic: this.topic, partition: this.partition, requestedOffset: offset, oldEndOffset: end, logEndOffset: newEnd });
      return newEnd;
    } catch (err) {
      // The files may no longer match what the log holds in memory: refuse appends until reopened (open recovers).
      this.failed = err as Error;
      this.logger('storage.log.failed', { topic: this.topic, partition: this.partition, error: String(err) });
      throw err instanceof SluiceError ? err : new StorageError(`truncation of ${this.topic}-${this.partition} to ${offset} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private async restartAtNow(offset: number): Promise<number> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidAppendError(`cannot restart the log at offset ${offset}: not an integer >= 0`);
    if (this.failed) throw new StorageError(`log ${this.topic}-${this.partition} failed: ${this.failed.message}`, { cause: this.failed });
    await this.unmarkClean();
    const { logStartOffset: oldStart, logEndOffset: oldEnd } = this;
    try {
      // As truncateNow: durable appends waiting are answered, and no fsync runs on a deleted segment.
      await this.sync();
      const dropped = this.segments.dropFrom(0);
      for (let i = dropped.length - 1; i >= 0; i--) {
        const s = dropped[i];
        this.logger('storage.truncate.segment-deleted', { topic: this.topic, partition: this.partition, segment: s.baseOffset, bytes: s.size });
        await s.deleteAndWait();
      }
      // The empty checkpoint before the new segment: with the new segment and the old
      // checkpoint on disk, the next open would move the old last epoch up to the new start
      // (truncateFromStart). With no segment at all, open starts an empty log at 0, whose
      // epochs it cuts anyway. The checkpoint write fsyncs the directory, which makes the
      // deletions above durable first.
      this.epochs.clear();
      await this.persistEpochs();
      this.segments.push(await Segment.create(this.dir, offset, this.config.indexIntervalBytes, this.fs, this.files));
      this.logStartOffset = offset;
      this.logEndOffset = offset;
      await writeFileAtomic(join(this.dir, LOG_START_OFFSET_FILE), String(offset), this.fs);
      // No batch is left for any producer state to describe (a stale snapshot would answer retries from deleted records).
      this.producers = new ProducerStateTable();
      await writeProducerSnapshot(this.dir, this.producers, offset, this.fs);
      // Writing the recovery point fsyncs the directory, so the new segment's name is durable.
      await writeFileAtomic(join(this.dir, RECOVERY_POINT_FILE), String(offset), this.fs);
      this.logger('storage.truncated-fully', { topic: this.topic, partition: this.partition, oldStartOffset: oldStart, oldEndOffset: oldEnd, logStartOffset: offset });
      return offset;
    } catch (err) {
      this.failed = err as Error;
      this.logger('storage.log.failed', { topic: this.topic, partition: this.partition, error: String(err) });
      throw err instanceof SluiceError ? err : new StorageError(`restarting ${this.topic}-${this.partition} at ${offset} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * After a truncation to `end`: the producer state of the log as it now is, from the
   * snapshot when it describes no more than the log holds, else from the log start, then
   * written as the snapshot at `end` (a snapshot past the end would, after a crash, answer a
   * retry of a cut batch as a duplicate of records that are gone).
   */
  private async rebuildProducers(end: number): Promise<void> {
    let table = new ProducerStateTable();
    let from = this.logStartOffset;
    const loaded = await readProducerSnapshot(this.dir, this.fs).catch(() => null);
    if (loaded !== null && loaded.offset <= end) {
      table = loaded.table;
      from = Math.max(from, loaded.offset);
    }
    // A copy, each segment held: retention is not ordered with truncations and may delete the
    // first segments meanwhile; walked live, the list shifts under the walk and the segment
    // after a deleted one was skipped, its producers forgotten (a retry of theirs was stored
    // again: test/storage/retention-during-truncation.test.ts). Held, a deleted one is
    // removed only after the walk.
    const segs = this.segments.all().slice();
    for (const s of segs) s.acquire();
    try {
      await replayProducerState(table, segs, from);
    } finally {
      for (const s of segs) s.release();
    }
    this.producers = table;
    await writeProducerSnapshot(this.dir, table, end, this.fs);
  }

  /** The newest leader epoch that wrote to this log, or -1 (UNDEFINED_EPOCH). */
  latestEpoch(): number {
    return this.epochs.latestEpoch();
  }

  /** Kafka's OffsetsForLeaderEpoch answer from this log: see LeaderEpochCache.endOffsetFor. */
  endOffsetForEpoch(epoch: number): EpochEndOffset {
    return this.epochs.endOffsetFor(epoch, this.logEndOffset);
  }

  /** The leader-epoch cache's entries (epoch, first offset written in it), oldest first. */
  leaderEpochs(): readonly EpochEntry[] {
    return this.epochs.entries().slice();
  }

  read(offset: number, maxBytes: number, opts?: ReadOptions): Promise<ReadResult> {
    // Not async itself: a single broker's reads (no bound) cost one check, no extra promise.
    const bound = opts?.maxOffset;
    if (bound !== undefined) return this.readBelow(offset, maxBytes, bound, opts!);
    return this.readUnbounded(offset, maxBytes, opts);
  }

  prefetch(offset: number): void {
    if (this.closed || offset < this.logStartOffset || offset >= this.logEndOffset) return;
    const seg = this.segments.floor(offset);
    if (seg === undefined || seg.file.isOpen) return;
    // Pinned then released at once: the handle becomes the most recently used idle one, so the
    // read (a few partitions later) finds it open. A failed open (the segment deleted
    // meanwhile) is the read's to report, not this one's.
    seg.file.pinOpen().then(() => seg.file.unpin(), noop);
  }

  /**
   * A read cut to the whole batches below `bound` (ReadOptions.maxOffset). It reads as an
   * unbounded read would and cuts the answer (a view, the stored bytes unchanged): what lies
   * past the bound is read and dropped, at most maxBytes, and only in cluster mode.
   */
  private async readBelow(offset: number, maxBytes: number, bound: number, opts: ReadOptions): Promise<ReadResult> {
    if (offset >= bound && offset >= this.logStartOffset && offset <= this.logEndOffset) {
      return { bytes: EMPTY, logStartOffset: this.logStartOffset, logEndOffset: this.logEndOffset };
    }
    const res = await this.readUnbounded(offset, maxBytes, opts);
    const buf = res.bytes;
    let end = 0;
    while (end < buf.length) { // whole, checked batches: every header is there
      if (readInt64(buf, end + BASE_OFFSET) + buf.readInt32BE(end + LAST_OFFSET_DELTA) >= bound) break;
      end += buf.readInt32BE(end + BATCH_LENGTH) + LOG_OVERHEAD;
    }
    if (end === buf.length) return res;
    if (end === 0) opts.pool?.release(buf);
    return { bytes: end === 0 ? EMPTY : buf.subarray(0, end), logStartOffset: res.logStartOffset, logEndOffset: res.logEndOffset };
  }

  private async readUnbounded(offset: number, maxBytes: number, opts?: ReadOptions): Promise<ReadResult> {
    // A truncation while this read ran may have cut (and refilled) the bytes it read: read
    // again against the new log. Costs one compare when nothing was truncated.
    for (;;) {
      if (this.truncation !== null) await this.truncation.catch(noop);
      const gen = this.truncations;
      let result: ReadResult;
      try {
        result = await this.readOnce(offset, maxBytes, opts);
      } catch (err) {
        if (gen === this.truncations) throw err;
        continue;
      }
      if (gen === this.truncations) return result;
      opts?.pool?.release(result.bytes);
    }
  }

  private async readOnce(offset: number, maxBytes: number, opts?: ReadOptions): Promise<ReadResult> {
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

  /** Runs `fn` (a walk over segments) again until no truncation ran during it. */
  private async untruncated<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      if (this.truncation !== null) await this.truncation.catch(noop);
      const gen = this.truncations;
      try {
        const out = await fn();
        if (gen === this.truncations) return out;
      } catch (err) {
        if (gen === this.truncations) throw err;
      }
    }
  }

  offsetForTimestamp(ts: number): Promise<number | null> {
    return this.untruncated(() => this.findTimestamp(ts));
  }

  private async findTimestamp(ts: number): Promise<number | null> {
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
  verify(): Promise<PartitionVerifyReport> {
    return this.untruncated(() => this.verifySegments());
  }

  private async verifySegments(): Promise<PartitionVerifyReport> {
    const segs = this.segments.all().slice();
    for (const s of segs) s.acquire();
    const report = emptyReport();
    try {
      let next: number | null = null;
      for (const s of segs) {
        checkSegmentStart(report, s.baseOffset, next);
        next = await s.withFile((fh) => verifySegment(fh, s.baseOffset, s.size, report));
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
    const expired = this.producers.expire(now, this.producerIdExpirationMs);
    if (expired > 0) this.logger('storage.producer-state.expired', { topic: this.topic, partition: this.partition, producers: expired });
    const { retentionMs, retentionBytes } = this.config;
    if (retentionMs < 0 && retentionBytes < 0) return 0;
    let deleted = 0;
    while (this.segments.length > 1) {
      const s = this.segments.first;
      // The size left now, not a running total: passes are not ordered with each other (the
      // timer has no guard against one still running), and a total kept across the await
      // below misses the other pass's deletions and deletes what retention.bytes keeps.
      const total = this.segments.sizeBytes();
      const byTime = retentionMs >= 0 && s.maxTimestamp < now - retentionMs;
      const bySize = retentionBytes >= 0 && total - s.size >= retentionBytes;
      if (!byTime && !bySize) break;
      await this.unmarkClean();
      this.segments.shift();
      this.logStartOffset = Math.max(this.logStartOffset, this.segments.first.baseOffset);
      this.logger('storage.retention.deleted', {
        topic: this.topic, partition: this.partition, segment: s.baseOffset, bytes: s.size, reason: byTime ? 'time' : 'size',
      });
      await s.delete();
      deleted++;
    }
    // Kafka's truncateFromStart: the epoch that wrote the new first offset now starts there.
    if (deleted > 0 && this.epochs.truncateFromStart(this.logStartOffset)) await this.persistEpochs();
    return deleted;
  }

  /**
   * Removes the `.clean-shutdown` marker, durably, before the first change to a log opened
   * clean: the marker promises the next open that the indexes, the producer snapshot and the
   * log end agree, which a write, a truncation or a deletion ends. Concurrent callers
   * (retention beside the append queue) share one removal; a failed one is tried again by
   * the next change, and the change waits for it (nothing is written while the marker stands).
   */
  private unmarkClean(): Promise<void> {
    if (!this.cleanMarker) return Promise.resolve();
    this.unmarking ??= (async () => {
      try {
        await this.fs.unlink(join(this.dir, CLEAN_SHUTDOWN_FILE)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
        // Else a crash could bring the marker back, and the next open would skip the CRC scan.
        await syncDir(this.dir, this.fs);
        this.cleanMarker = false;
      } finally {
        this.unmarking = null;
      }
    })();
    return this.unmarking;
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
    await this.epochWrite;
    if (this.cleanMarker) {
      // Nothing changed since the clean open: the files, marker included, are as the last
      // clean close left them. Closing the segments writes nothing (no index changed).
      for (const s of this.segments.all()) await s.close();
      return;
    }
    // At the log end: a clean open replays nothing. Its rename is made durable by the one
    // directory fsync below, with the marker's creation.
    if (!this.failed) await this.snapshotProducers(this.logEndOffset, false);
    for (const s of this.segments.all()) await s.close();
    if (this.failed) return; // no marker: the next open must recover
    // No recovery-point write: a clean open ignores it, and after a crash the one written at
    // the last roll or truncation selects the same segments to scan (the active one: its
    // next base is past any point inside it). That was two of a close's nine fsyncs, and
    // 20,000 partitions close at every restart (test/integration/open-files.test.ts).
    // The marker is empty, so creating it is its whole write: the directory fsync makes it
    // durable, after the log (sync above) and the indexes (seal) already are.
    const marker = await this.fs.open(join(this.dir, CLEAN_SHUTDOWN_FILE), 'w');
    await marker.close();
    await syncDir(this.dir, this.fs);
  }
}

/**
 * The leader-epoch cache at open: the checkpoint (missing: empty; damaged: rebuilt from the
 * batch headers, and logged), then cut to the log as recovered, as Kafka's LogLoader does:
 * entries at or past the log end go (a crash after an epoch's checkpoint write but before
 * its first batch was durable, or during a truncation), and the first entry moves up to the
 * log start. Written back when that changed anything.
 */
async function loadEpochs(
  dir: string, topic: string, partition: number, segments: Segments, logger: StorageLogger, fs: FileSystem, exists = true,
): Promise<LeaderEpochCache> {
  let cache: LeaderEpochCache;
  let rewrite = false;
  try {
    cache = new LeaderEpochCache((exists ? await readCheckpoint(dir, fs) : null) ?? []);
  } catch (err) {
    if (!(err instanceof CheckpointFormatError)) throw err;
    cache = await epochsFromSegments(segments.all());
    logger('storage.leader-epoch.rebuilt', { topic, partition, reason: err.message, entries: cache.length });
    rewrite = true;
  }
  const cutEnd = cache.truncateFromEnd(segments.active.nextOffset);
  const cutStart = cache.truncateFromStart(segments.first.baseOffset);
  if (rewrite || cutEnd || cutStart) await writeCheckpoint(dir, cache.entries(), fs);
  return cache;
}

/**
 * The producer state at open: the snapshot, then the batches after it replayed from their
 * headers. No snapshot, one that does not parse, or one past the recovered log end (the
 * tail it described was lost): replayed from the log start, and logged when the log holds
 * anything. A clean close leaves a snapshot at the log end, so a clean open replays nothing.
 */
async function loadProducers(
  dir: string, topic: string, partition: number, segments: Segments, logger: StorageLogger, fs: FileSystem, exists = true,
): Promise<ProducerStateTable> {
  const end = segments.active.nextOffset;
  const start = segments.first.baseOffset;
  let reason: string | null = null;
  let loaded = null;
  try {
    loaded = exists ? await readProducerSnapshot(dir, fs) : null;
    if (loaded === null) reason = 'no snapshot';
    else if (loaded.offset > end) {
      // Recovery cut the tail the snapshot described. No producer wrote below its offset: nor below the end.
      if (loaded.table.size === 0) return loaded.table;
      reason = `the snapshot is at offset ${loaded.offset}, past the log end ${end}`;
    }
  } catch (err) {
    reason = (err as Error).message;
  }
  if (loaded === null || reason !== null) {
    const table = new ProducerStateTable();
    if (end === start) return table;
    const t0 = performance.now();
    const batches = await replayProducerState(table, segments.all(), start);
    // A missing snapshot is ordinary (a log that never rolled, after a crash); a damaged one is not.
    logger(loaded === null && reason === 'no snapshot' ? 'storage.producer-state.replayed' : 'storage.producer-state.rebuilt', {
      topic, partition, reason, fromOffset: start, batches, producers: table.size, ms: Math.round(performance.now() - t0),
    });
    return table;
  }
  if (loaded.offset < end) await replayProducerState(loaded.table, segments.all(), Math.max(loaded.offset, start));
  return loaded.table;
}

/** What an append answers: where its batches are (the first store's, for a duplicate). */
function resultOf(it: Pending, end: number): AppendResult {
  return it.dup
    ? { baseOffset: it.baseOffset, lastOffset: it.lastOffset, logEndOffset: end, duplicate: true }
    : { baseOffset: it.baseOffset, lastOffset: it.lastOffset, logEndOffset: end };
}

/** Stamps `epoch` into every batch's partitionLeaderEpoch (outside the CRC, like the base offset). */
function stampEpoch(buf: Buffer, epoch: number): void {
  for (let off = 0; off < buf.length; off += buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD) buf.writeInt32BE(epoch, off + PARTITION_LEADER_EPOCH);
}

/** A follower's batches must run on without gaps (the queue checks the first against the log end). */
function checkContiguous(buf: Buffer): void {
  let expected = readInt64(buf, BASE_OFFSET);
  if (!Number.isSafeInteger(expected) || expected < 0) throw new UnexpectedAppendOffsetError(expected, 0, 'a base offset must be >= 0');
  for (let off = 0; off < buf.length; off += buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD) {
    const base = readInt64(buf, off + BASE_OFFSET);
    if (base !== expected) throw new UnexpectedAppendOffsetError(base, expected, `batch at byte ${off} does not follow the batch before it`);
    expected = base + buf.readInt32BE(off + LAST_OFFSET_DELTA) + 1;
  }
}
