/**
 * One segment: `<base>.log` holding whole stored batches back to back, plus its sparse
 * `<base>.index` (offset-index.ts) and `<base>.timeindex` (time-index.ts). The base offset
 * is the offset of the segment's first record, written as 20 zero-padded digits so names
 * sort like offsets.
 *
 * Invariants: only the owning partition's append queue calls place/commit/rollback; bytes
 * below `size` are fully written and the only ones reads may return; batches in a segment
 * have contiguous offsets starting at `baseOffset`.
 *
 * Open files: the `.log` handle lives in the broker's OpenFileCache (open-file-cache.ts),
 * pinned by each operation that uses it and closed by the LRU when idle, so an idle
 * partition holds no descriptor. The indexes live in memory and are written whole when the
 * segment is sealed, closed or truncated, never held open: a crash rebuilds the active
 * segment's indexes anyway (it is always at or past the recovery point), so writing them
 * through with every append bought nothing but two descriptors per partition.
 */
import { join } from 'node:path';
import {
  BASE_OFFSET, HEADER_SIZE, LAST_OFFSET_DELTA, LOG_OVERHEAD, BATCH_LENGTH, MAX_TIMESTAMP, readInt64, setBaseOffset,
  validateBatch, decodeBatch,
} from '../record/index.js';
import { CorruptBatchError } from '../errors.js';
import { CorruptLogError, StorageError } from './errors.js';
import { crcFault, headerFault } from './batch-check.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';
import { countRecords, readFully, scanBatches } from './scan-batches.js';
import type { ReadBufferPool } from './read-buffer-pool.js';
import { unboundedOpenFiles, type CachedFile, type OpenFileCache } from './open-file-cache.js';
import type { FileSystem, StorageFile } from './file-system.js';
import type { ReadOptions } from './types.js';

const NOTHING = Buffer.alloc(0);

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
export const SEGMENT_FILE = /^(\d{20})\.log$/;
/** Relative offsets and positions are u32 in the indexes; a segment rolls before passing either. */
export const MAX_U32 = 0xffff_ffff;
/**
 * An append that asked to be written in place (AppendOptions.inPlace: the state logs') is
 * written on the calling thread (StorageFile.writevSync) up to this many bytes, larger ones
 * through libuv's thread pool. A write of a few hundred bytes into the page cache takes
 * ~1.5 us there; handing it to a pool thread and back cost ~22-42 us of CPU (two futex wakes,
 * an eventfd write, a loop turn) and, on a busy 2-core host, ~100 us of the loop's wall time,
 * since the woken pool thread often preempts it (docs/queue-performance.md, steps 9 and 12).
 * Not for every append: step 9 wrote all small appends so and a produce of small batches with
 * acks=all fell to 0.67x (a write that extends a file can wait for the journal commit an
 * fdatasync started, and on the loop that wait stops everything). The state logs write one
 * append per I/O phase, so the loop is exposed to such a wait once per phase, not per batch.
 */
export const IN_PLACE_WRITE_MAX_BYTES = 16 * 1024;

export function segmentFileName(baseOffset: number, suffix: string): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

/** What a recovery scan found in one segment. */
export interface RecoveryReport {
  validBytes: number;
  droppedBytes: number;
  /** Offset the first dropped byte would have held, i.e. the segment's next offset after truncation. */
  nextOffset: number;
  /** Records in the dropped bytes, counted from the batch headers that can still be walked (countRecords). */
  droppedRecords: number;
  reason?: string;
}

export class Segment {
  /** Bytes fully written; readers never look past this. */
  size = 0;
  /** Bytes placed by the append queue, written or being written. */
  private writePos = 0;
  /** Bytes known to be on stable storage. */
  flushedSize = 0;
  /** Offset after the last placed batch. */
  nextOffset: number;
  /** Largest batch maxTimestamp in the segment, -1 when empty. */
  maxTimestamp = -1;
  private offsetOfMaxTimestamp = -1;
  /** maxTimestamp of the first batch; segmentMs counts from it (as Kafka does). */
  firstTimestamp = -1;
  private bytesSinceIndex = 0;
  /** The active segment: appends go here, and close() seals it (writes its indexes). */
  private active = false;
  private refs = 0;
  private deleted = false;
  /** deleteAndWait's caller, told when release() removed the files. */
  private onRemoved: (() => void) | null = null;
  /** Bytes in the file when it was opened; bytes after them were appended by this process and passed their CRC then. */
  private loadedSize = 0;
  /** Bytes below this passed a CRC check since open (recovery scan, or reads: see checkCrcs). */
  private crcCheckedTo = 0;
  // State saved by mark() so a failed write can be undone without allocation.
  private saved = { writePos: 0, nextOffset: 0, maxTs: -1, offMaxTs: -1, firstTs: -1, since: 0, idx: 0, tidx: 0 };

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    /** The `.log` file; pin it around every use (withFile). */
    readonly file: CachedFile,
    private indexIntervalBytes: number,
    public index: OffsetIndex,
    public timeIndex: TimeIndex,
    private readonly fs: FileSystem,
  ) {
    this.nextOffset = baseOffset;
  }

  path(suffix: string): string {
    return join(this.dir, segmentFileName(this.baseOffset, suffix));
  }

  /**
   * Creates an empty active segment (files truncated if present). The index files are
   * created empty now, so a segment on disk always has all three.
   */
  static async create(
    dir: string, baseOffset: number, indexIntervalBytes: number, fs: FileSystem, files: OpenFileCache = unboundedOpenFiles,
  ): Promise<Segment> {
    const name = (s: string) => join(dir, segmentFileName(baseOffset, s));
    const file = files.file(fs, name(LOG_SUFFIX));
    await file.pinOpen('w+');
    file.unpin();
    const seg = new Segment(dir, baseOffset, file, indexIntervalBytes, new OffsetIndex(), new TimeIndex(), fs);
    try {
      await writeWhole(fs, name(INDEX_SUFFIX), NOTHING, false);
      await writeWhole(fs, name(TIME_INDEX_SUFFIX), NOTHING, false);
    } catch (err) {
      await file.close();
      throw err;
    }
    seg.active = true;
    return seg;
  }

  /** Runs `fn` with the `.log` handle pinned (opened if the LRU closed it), so it stays open until `fn` settles. */
  withFile<T>(fn: (fh: StorageFile) => Promise<T>): Promise<T> {
    return this.file.use(fn);
  }

  /**
   * Opens an existing segment. With `recover`, every batch's length, CRC and offset are
   * checked, a bad tail is cut off, and the indexes are rebuilt. Without it the indexes are
   * loaded and sanity-checked (rebuilt when missing or bad) and only the tail after the last
   * index entry is walked to find the end offset.
   */
  static async load(
    dir: string, baseOffset: number, indexIntervalBytes: number, recover: boolean, fs: FileSystem, files: OpenFileCache = unboundedOpenFiles,
  ): Promise<{ segment: Segment; report: RecoveryReport | null }> {
    const name = (s: string) => join(dir, segmentFileName(baseOffset, s));
    const file = files.file(fs, name(LOG_SUFFIX));
    const fh = await file.pinOpen('r+');
    const seg = new Segment(dir, baseOffset, file, indexIntervalBytes, new OffsetIndex(), new TimeIndex(), fs);
    let report: RecoveryReport | null = null;
    try {
      const fileSize = (await fh.stat()).size;
      let trusted = false;
      if (!recover) {
        const idx = await readOptional(fs, name(INDEX_SUFFIX));
        const tidx = await readOptional(fs, name(TIME_INDEX_SUFFIX));
        const index = idx ? OffsetIndex.fromFile(idx, fileSize) : null;
        if (index) {
          trusted = await seg.loadTail(fh, index, fileSize);
          const timeIndex = trusted && tidx ? TimeIndex.fromFile(tidx, seg.nextOffset - baseOffset) : null;
          if (timeIndex) {
            seg.timeIndex = timeIndex;
            if (timeIndex.lastTimestamp() >= seg.maxTimestamp && timeIndex.count > 0) {
              seg.maxTimestamp = timeIndex.lastTimestamp();
              seg.offsetOfMaxTimestamp = baseOffset + timeIndex.lastRelOffset();
            }
          } else {
            trusted = false;
          }
        }
      }
      if (!trusted) {
        report = await seg.rebuild(fh, fileSize, recover);
        await writeWhole(fs, name(INDEX_SUFFIX), seg.index.bytes());
        await writeWhole(fs, name(TIME_INDEX_SUFFIX), seg.timeIndex.bytes());
        seg.index.written = seg.index.count;
        seg.timeIndex.written = seg.timeIndex.count;
      }
      seg.flushedSize = seg.loadedSize = seg.size;
      // A recovery scan checked every CRC; otherwise reads check them (checkCrcs).
      seg.crcCheckedTo = recover ? seg.size : 0;
    } catch (err) {
      file.unpin();
      await file.close();
      throw err;
    }
    file.unpin();
    return { segment: seg, report };
  }

  /** The segment becomes the active one: appends go here, and close() seals it. */
  activate(): void {
    this.active = true;
  }

  /** Uses a loaded index; walks headers from its last entry to the end. False when they disagree. */
  private async loadTail(fh: StorageFile, index: OffsetIndex, fileSize: number): Promise<boolean> {
    const from = index.count > 0 ? index.positionAt(index.count - 1) : 0;
    let expected = index.count > 0 ? this.baseOffset + index.relOffsetAt(index.count - 1) : this.baseOffset;
    let first = from === 0;
    const r = await scanBatches(fh, from, fileSize, false, (buf, off, _pos, _size) => {
      if (readInt64(buf, off + BASE_OFFSET) !== expected) return false;
      const ts = readInt64(buf, off + MAX_TIMESTAMP);
      if (first) {
        this.firstTimestamp = ts;
        first = false;
      }
      if (ts > this.maxTimestamp) {
        this.maxTimestamp = ts;
        this.offsetOfMaxTimestamp = expected;
      }
      expected += buf.readInt32BE(off + LAST_OFFSET_DELTA) + 1;
      return true;
    }, 256 * 1024);
    if (r.stop !== 'end') return false;
    this.index = index;
    this.size = this.writePos = fileSize;
    this.nextOffset = expected;
    this.bytesSinceIndex = fileSize - from;
    if (this.firstTimestamp < 0 && fileSize > 0) this.firstTimestamp = await readFirstTimestamp(fh);
    return true;
  }

  /**
   * Walks the whole log from position 0, rebuilding both indexes. Stops at the first batch
   * that is torn, fails its CRC (when `verify`), or does not continue the offsets; the file
   * is truncated there.
   */
  private async rebuild(fh: StorageFile, fileSize: number, verify: boolean): Promise<RecoveryReport> {
    this.index = new OffsetIndex();
    this.timeIndex = new TimeIndex();
    this.maxTimestamp = this.offsetOfMaxTimestamp = this.firstTimestamp = -1;
    this.bytesSinceIndex = 0;
    this.nextOffset = this.baseOffset;
    let expected = this.baseOffset;
    let reason: string | undefined;
    const r = await scanBatches(fh, 0, fileSize, verify, (buf, off, pos, size) => {
      const base = readInt64(buf, off + BASE_OFFSET);
      if (base !== expected) {
        reason = `batch at ${pos}: base offset ${base}, expected ${expected}`;
        return false;
      }
      if (verify) {
        try {
          validateBatch(buf, off, off + size);
        } catch (err) {
          if (!(err instanceof CorruptBatchError)) throw err;
          reason = err.message.replace(/^batch at \d+/, `batch at ${pos}`);
          return false;
        }
      }
      this.track(buf, off, pos, size, base);
      expected = this.nextOffset;
      return true;
    });
    if (r.stop === 'torn') reason = `torn batch at ${r.pos}`;
    const droppedRecords = r.pos < fileSize ? await countRecords(fh, r.pos, fileSize) : 0;
    this.size = this.writePos = r.pos;
    if (r.pos < fileSize) await fh.truncate(r.pos);
    return { validBytes: r.pos, droppedBytes: fileSize - r.pos, nextOffset: this.nextOffset, droppedRecords, ...(reason !== undefined && { reason }) };
  }

  /** Index and offset bookkeeping for one batch placed at `pos` (the same rule on append and rebuild). */
  private track(buf: Buffer, off: number, pos: number, size: number, base: number): void {
    const ts = readInt64(buf, off + MAX_TIMESTAMP);
    if (this.bytesSinceIndex >= this.indexIntervalBytes && pos > 0) {
      this.index.append(base - this.baseOffset, pos);
      if (this.maxTimestamp >= 0) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp - this.baseOffset);
      this.bytesSinceIndex = 0;
    }
    if (this.firstTimestamp < 0) this.firstTimestamp = ts;
    if (ts > this.maxTimestamp) {
      this.maxTimestamp = ts;
      this.offsetOfMaxTimestamp = base;
    }
    this.bytesSinceIndex += size;
    this.nextOffset = base + buf.readInt32BE(off + LAST_OFFSET_DELTA) + 1;
  }

  /** Saves the write state so `rollback` can undo the next places. */
  mark(): void {
    const s = this.saved;
    s.writePos = this.writePos; s.nextOffset = this.nextOffset; s.maxTs = this.maxTimestamp;
    s.offMaxTs = this.offsetOfMaxTimestamp; s.firstTs = this.firstTimestamp; s.since = this.bytesSinceIndex;
    s.idx = this.index.count; s.tidx = this.timeIndex.count;
  }

  async rollback(): Promise<void> {
    const s = this.saved;
    this.writePos = s.writePos; this.nextOffset = s.nextOffset; this.maxTimestamp = s.maxTs;
    this.offsetOfMaxTimestamp = s.offMaxTs; this.firstTimestamp = s.firstTs; this.bytesSinceIndex = s.since;
    this.index.truncateTo(s.idx);
    this.timeIndex.truncateTo(s.tidx);
    await this.withFile((fh) => fh.truncate(this.size));
  }

  /** Whether this is the active segment (appends go here; close() seals it). */
  get writable(): boolean {
    return this.active;
  }

  /**
   * Cuts the segment back to the batches that end before `offset`: the batch holding
   * `offset` goes whole (Kafka truncates to batch boundaries), and so does everything after
   * it. Returns the new next offset (= `offset` when it was a batch boundary). Durable before
   * it resolves: the log's new size is fsynced, then both indexes are rebuilt from the kept
   * bytes and written whole (fsynced). Needs: nothing placed and not committed (the
   * partition's queue runs this between writes).
   *
   * The indexes and timestamps are rebuilt by walking every kept batch header (rebuild):
   * truncation is rare (a follower meeting a new leader), and the walk keeps maxTimestamp,
   * the time index and the index interval exact instead of estimating them from the sparse
   * entries, for about one read of the segment (~0.3 s for 1 GiB from the page cache).
   */
  async truncateTo(offset: number): Promise<number> {
    if (offset >= this.nextOffset) return this.nextOffset;
    return this.withFile((fh) => this.truncateWith(fh, offset));
  }

  private async truncateWith(fh: StorageFile, offset: number): Promise<number> {
    let cut = 0;
    if (offset > this.baseOffset) {
      const entry = this.index.floor(offset - this.baseOffset);
      const from = entry < 0 ? 0 : this.index.positionAt(entry);
      const r = await scanBatches(fh, from, this.size, false, (buf, off, pos) => {
        if (readInt64(buf, off + BASE_OFFSET) + buf.readInt32BE(off + LAST_OFFSET_DELTA) + 1 <= offset) return true;
        cut = pos;
        return false;
      }, 256 * 1024);
      if (r.stop !== 'visitor') throw new StorageError(`segment ${this.baseOffset}: no batch holds offset ${offset} (walk stopped: ${r.stop} at ${r.pos})`);
    }
    await fh.truncate(cut);
    await fh.sync();
    await this.rebuild(fh, cut, false);
    this.flushedSize = this.size;
    this.loadedSize = Math.min(this.loadedSize, this.size);
    this.crcCheckedTo = Math.min(this.crcCheckedTo, this.size);
    await writeWhole(this.fs, this.path(INDEX_SUFFIX), this.index.bytes());
    await writeWhole(this.fs, this.path(TIME_INDEX_SUFFIX), this.timeIndex.bytes());
    this.index.written = this.index.count;
    this.timeIndex.written = this.timeIndex.count;
    return this.nextOffset;
  }

  /** Bytes placed so far (committed or in flight). */
  get placedBytes(): number {
    return this.writePos;
  }

  /** Stamps offsets into every batch of `buf` (already validated) and indexes them at the next position. */
  place(buf: Buffer, firstOffset: number): void {
    let off = 0;
    let offset = firstOffset;
    while (off < buf.length) {
      const size = buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD;
      setBaseOffset(buf, off, offset);
      this.track(buf, off, this.writePos + off, size, offset);
      offset = this.nextOffset;
      off += size;
    }
    this.writePos += buf.length;
  }

  /**
   * Writes the placed buffers (in order); then they become readable. Index entries stay in
   * memory until seal (see the header). The handle is pinned without an await when the LRU
   * has it open, which for a partition being written to it always has. With `inPlace`, up
   * to IN_PLACE_WRITE_MAX_BYTES are written on the calling thread (see there).
   */
  async commit(bufs: Buffer[], inPlace = false): Promise<void> {
    const at = this.size;
    const expect = this.writePos - at;
    const fh = this.file.pin() ?? await this.file.pinOpen();
    try {
      const written = inPlace && expect <= IN_PLACE_WRITE_MAX_BYTES && fh.writevSync !== undefined
        ? fh.writevSync(bufs, at)
        : (await fh.writev(bufs, at)).bytesWritten;
      if (written !== expect) throw new StorageError(`short write: ${written} of ${expect} bytes`);
    } finally {
      this.file.unpin();
    }
    this.size = this.writePos;
  }

  /** fdatasync of the log; returns once everything committed before the call is durable. */
  async sync(): Promise<void> {
    const upTo = this.size;
    if (upTo === this.flushedSize) return;
    await this.withFile((fh) => fh.datasync());
    if (upTo > this.flushedSize) this.flushedSize = upTo;
  }

  /**
   * The segment stops being active: final time index entry, then each index that changed
   * since it was last written is written whole and fsynced (a crash before that rebuilds
   * them: the segment is still at or past the recovery point).
   */
  async seal(): Promise<void> {
    if (this.maxTimestamp >= 0) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp - this.baseOffset);
    for (const [suffix, ix] of [[INDEX_SUFFIX, this.index], [TIME_INDEX_SUFFIX, this.timeIndex]] as const) {
      if (ix.written === ix.count) continue;
      await writeWhole(this.fs, this.path(suffix), ix.bytes());
      ix.written = ix.count;
    }
    this.active = false;
  }

  /**
   * Reads whole batches starting with the one holding `offset` (which must be committed in
   * this segment), up to `maxBytes` but always the first batch whole. `window` bounds the
   * bytes between an index entry and the batch sought (the index interval), so one read
   * normally covers both the scan and the answer. With `fitOnly` (see ReadOptions) the
   * first read covers the window only, and the data is read once it is known to fit.
   *
   * Every header walked or served is checked (batch-check.ts): the first one against the
   * index entry, each later one against the batch before it. A bad batch on the way to
   * `offset`, or the one holding it, throws CorruptLogError; a bad batch after the first
   * served one ends the answer before it (the next read, which starts there, throws).
   */
  async read(offset: number, maxBytes: number, window: number, opts: ReadOptions = {}): Promise<Buffer> {
    if (opts.fitOnly === true && maxBytes < HEADER_SIZE) return NOTHING;
    const fh = this.file.pin() ?? await this.file.pinOpen();
    try {
      return await this.readWith(fh, offset, maxBytes, window, opts);
    } finally {
      this.file.unpin();
    }
  }

  private async readWith(fh: StorageFile, offset: number, maxBytes: number, window: number, opts: ReadOptions): Promise<Buffer> {
    const { pool, fitOnly = false } = opts;
    const limit = this.size;
    const entry = this.index.floor(offset - this.baseOffset);
    let pos = entry < 0 ? 0 : this.index.positionAt(entry);
    let expected = this.baseOffset + (entry < 0 ? 0 : this.index.relOffsetAt(entry));
    for (;;) {
      if (pos + HEADER_SIZE > limit) throw new StorageError(`offset ${offset} not found in segment ${this.baseOffset}`);
      const len = Math.min(limit - pos, (fitOnly ? 0 : Math.max(maxBytes, 0)) + window + HEADER_SIZE);
      const buf = pool ? pool.acquire(len) : Buffer.allocUnsafe(len);
      let keep = false;
      try {
        const n = await readFully(fh, buf, 0, len, pos);
        let off = 0;
        while (n - off >= HEADER_SIZE) {
          const fault = headerFault(buf, off, limit - pos - off, expected, this.nextOffset);
          if (fault !== null) throw new CorruptLogError(this.baseOffset, pos + off, expected, fault, undefined, undefined, Buffer.from(buf.subarray(off, off + HEADER_SIZE)));
          const size = buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD;
          const next = expected + buf.readInt32BE(off + LAST_OFFSET_DELTA) + 1;
          if (next > offset) {
            if (fitOnly && size > maxBytes) return NOTHING;
            // The probe may already hold all the answer can (a small segment's tail: every idle
            // partition of a wide fetch); only otherwise read again from the batch found.
            if (fitOnly && n - off < Math.min(limit - pos - off, maxBytes)) return await this.readFitting(fh, pos + off, size, maxBytes, next, pool);
            const out = await this.collect(fh, buf, n, off, size, pos, maxBytes, next);
            keep = out.buffer === buf.buffer;
            return out;
          }
          expected = next;
          off += size;
        }
        if (off === 0) throw new StorageError(`segment ${this.baseOffset}: short read at ${pos}`);
        pos += off;
      } finally {
        // Every buffer that is not the answer goes straight back.
        if (!keep) pool?.release(buf);
      }
    }
  }

  /** The batches from `start` (the first, `size` bytes, known to fit and checked) that fit in maxBytes. */
  private async readFitting(fh: StorageFile, start: number, size: number, maxBytes: number, next: number, pool: ReadBufferPool | undefined): Promise<Buffer> {
    const len = Math.min(this.size - start, maxBytes);
    const buf = pool ? pool.acquire(len) : Buffer.allocUnsafe(len);
    let keep = false;
    try {
      const n = await readFully(fh, buf, 0, len, start);
      if (n < size) throw new StorageError(`segment ${this.baseOffset}: short read at ${start}`);
      const out = await this.collect(fh, buf, n, 0, size, start, maxBytes, next);
      keep = out.buffer === buf.buffer;
      return out;
    } finally {
      if (!keep) pool?.release(buf);
    }
  }

  /**
   * The answer: the checked first batch (`size` bytes at `buf[off]`, file position `pos + off`)
   * and the whole, checked batches after it that fit in maxBytes. `next` is the offset the
   * second batch must start at. A partial batch at the end of what was read is not served
   * (normal: the read stopped inside it); a batch that fails its check is not served either.
   */
  private async collect(fh: StorageFile, buf: Buffer, n: number, off: number, size: number, pos: number, maxBytes: number, next: number): Promise<Buffer> {
    if (off + size > n) {
      // The first batch is larger than what was read: return it whole anyway.
      const whole = Buffer.allocUnsafe(size);
      buf.copy(whole, 0, off, n);
      const got = await readFully(fh, whole, n - off, size - (n - off), pos + n);
      if (got < size - (n - off)) throw new StorageError(`segment ${this.baseOffset}: short read at ${pos + n}`);
      return this.checkCrcs(whole, pos + off);
    }
    const left = this.size - pos;
    let end = off + size;
    while (n - end >= HEADER_SIZE) {
      const bytes = buf.readInt32BE(end + BATCH_LENGTH) + LOG_OVERHEAD;
      if (end + bytes > n || end + bytes - off > maxBytes) break;
      if (headerFault(buf, end, left - end, next, this.nextOffset) !== null) break;
      next += buf.readInt32BE(end + LAST_OFFSET_DELTA) + 1;
      end += bytes;
    }
    return this.checkCrcs(buf.subarray(off, end), pos + off);
  }

  /**
   * Checks the CRC of each batch in `out` (checked headers, first at file position `at`)
   * that was on disk at open and has not been checked since: a replay of bytes appended by
   * this process costs two compares. Returns `out`, or the batches before the first bad one;
   * throws CorruptLogError when that is the first.
   */
  private checkCrcs(out: Buffer, at: number): Buffer {
    if (at >= this.loadedSize || at + out.length <= this.crcCheckedTo) return out;
    let o = 0;
    while (o < out.length) {
      const p = at + o;
      const size = out.readInt32BE(o + BATCH_LENGTH) + LOG_OVERHEAD;
      if (p + size > this.crcCheckedTo && p < this.loadedSize) {
        const fault = crcFault(out, o, size);
        if (fault !== null) {
          if (o === 0) throw new CorruptLogError(this.baseOffset, p, readInt64(out, o + BASE_OFFSET), fault, undefined, undefined, Buffer.from(out.subarray(0, size)));
          return out.subarray(0, o);
        }
        // Only a contiguous prefix is remembered; a read elsewhere checks again next time.
        if (p <= this.crcCheckedTo) this.crcCheckedTo = p + size;
      }
      o += size;
    }
    return out;
  }

  /** Base offset of the first batch with maxTimestamp >= ts, or null. */
  async findTimestamp(ts: number): Promise<number | null> {
    if (this.maxTimestamp < ts) return null;
    const rel = this.timeIndex.lastBefore(ts);
    const from = rel < 0 ? 0 : this.index.lookup(rel);
    let found: number | null = null;
    await this.withFile((fh) => scanBatches(fh, from, this.size, true, (buf, off) => {
      if (readInt64(buf, off + MAX_TIMESTAMP) < ts) return true;
      found = firstRecordAtOrAfter(buf, off, ts);
      return false;
    }, 256 * 1024));
    return found;
  }

  /** Readers hold a reference so deletion waits for them before closing the file. */
  acquire(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.deleted) {
      const removed = this.onRemoved;
      void this.removeFiles().finally(() => removed?.());
    }
  }

  /** Removes the segment's files once no read holds it. The log file goes first: an index without a log is ignored. */
  async delete(): Promise<void> {
    this.deleted = true;
    if (this.refs === 0) await this.removeFiles();
  }

  /**
   * delete(), resolving only once the files are gone, after the last read holding the segment
   * released it. Truncation needs this: a segment of the same base offset may be created again
   * right after it, and a late removal by path would delete the new one's files.
   */
  async deleteAndWait(): Promise<void> {
    if (this.refs === 0) return this.delete();
    const removed = new Promise<void>((resolve) => { this.onRemoved = resolve; });
    this.deleted = true;
    await removed;
  }

  private async removeFiles(): Promise<void> {
    await this.close();
    for (const s of [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]) await this.fs.unlink(this.path(s)).catch(() => {});
  }

  async close(): Promise<void> {
    try {
      if (this.active) await this.seal();
    } finally {
      await this.file.close();
    }
  }
}

/** Size and record count (countRecords) of a segment's log file, read only: what deleting it loses. */
export async function measureSegmentFile(dir: string, baseOffset: number, fs: FileSystem): Promise<{ bytes: number; records: number }> {
  const fh = await fs.open(join(dir, segmentFileName(baseOffset, LOG_SUFFIX)), 'r');
  try {
    const bytes = (await fh.stat()).size;
    return { bytes, records: await countRecords(fh, 0, bytes) };
  } finally {
    await fh.close();
  }
}

/** Removes a segment's files without opening it (log first: an index without a log is ignored). */
export async function deleteSegmentFiles(dir: string, baseOffset: number, fs: FileSystem): Promise<void> {
  for (const s of [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]) await fs.unlink(join(dir, segmentFileName(baseOffset, s))).catch(() => {});
}

async function readFirstTimestamp(fh: StorageFile): Promise<number> {
  const b = Buffer.allocUnsafe(HEADER_SIZE);
  await readFully(fh, b, 0, HEADER_SIZE, 0);
  return readInt64(b, MAX_TIMESTAMP);
}

async function readOptional(fs: FileSystem, path: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writeWhole(fs: FileSystem, path: string, bytes: Buffer, sync = true): Promise<void> {
  const fh = await fs.open(path, 'w');
  try {
    if (bytes.length > 0) await fh.write(bytes, 0, bytes.length, 0);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The batch's maxTimestamp says some record reaches `ts`; a ListOffsets answer must name
 * that record, not the batch start, so walk the records' timestamps. This is the only place
 * storage looks inside a batch; it runs per timestamp lookup, never on append or fetch.
 */
function firstRecordAtOrAfter(buf: Buffer, off: number, ts: number): number {
  const batch = decodeBatch(buf, off);
  for (const r of batch.records) if (r.timestamp >= ts) return r.offset;
  return batch.header.baseOffset;
}
