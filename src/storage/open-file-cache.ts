/**
 * The broker's budget of open segment files: an LRU of segment log file handles, so a
 * broker holding tens of thousands of partitions stays within the process's file limit
 * (Kafka keeps every segment open and asks operators for a huge ulimit; we cannot ask that
 * of an embedded broker). A segment holds a `CachedFile` instead of a handle; each operation
 * pins it for its duration (`pin`/`pinOpen`, then `unpin`), opening the file when it was
 * closed, and the least recently used idle handles are closed once more than `capacity`
 * are open.
 *
 * Invariants:
 *  - A pinned handle is never closed: the idle list holds only unpinned open files, so a
 *    read, an append, a truncation or a recovery scan that holds a pin keeps its handle
 *    whatever the LRU does meanwhile. While everything open is pinned the cache goes over
 *    capacity rather than fail the operation, and trims back as pins are released.
 *  - `open` counts handles from the moment they are opened to the moment eviction or
 *    `close()` starts closing them; no handle is opened twice for one file (concurrent
 *    pins of a closed file share one open).
 *  - EMFILE/ENFILE on any open storage makes (segment files here, index writes, atomic
 *    files and directory fsyncs through `guard`) evicts idle handles and retries, and when
 *    nothing is idle, waits for a pin to be released (bounded), so running out of
 *    descriptors slows an operation down instead of failing it; only when nothing frees up
 *    within `EMFILE_WAIT_MS` does the operation fail with a retriable StorageError (the
 *    append is refused whole, nothing stored).
 *
 * Why an intrusive list and not a Map in insertion order: pin and unpin run on every append
 * and every read of the hot path; unlinking and relinking one node is a few field writes,
 * where a Map would hash the key twice per operation.
 *
 * Durability across a close: fsync(2) flushes the file, not the descriptor, so an fdatasync
 * on a reopened handle covers bytes written through a closed one. Since Linux 4.16 a
 * writeback error that no descriptor has reported yet is reported to the next one opened,
 * so an error is not lost with the handle that saw it.
 */
import { StorageError } from './errors.js';
import type { FileSystem, OpenFlags, StorageFile } from './file-system.js';

/** How long an open waits by default for a descriptor to free up (pins released) before it fails. */
export const EMFILE_WAIT_MS = 10_000;
/** Idle handles closed per EMFILE: a few, so a burst of opens does not hit the limit one by one. */
const EVICT_ON_EMFILE = 16;

export function isTooManyOpenFiles(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

export interface OpenFileStats {
  /** Handles open now (pinned and idle). */
  open: number;
  /** Idle handles closed to stay within capacity or after EMFILE, since the cache was made. */
  evictions: number;
  /** Opens that met EMFILE/ENFILE and were retried. */
  emfileRetries: number;
  capacity: number;
}

export class OpenFileCache {
  private head: CachedFile | null = null;
  private tail: CachedFile | null = null;
  private openCount = 0;
  private evictionCount = 0;
  private emfileCount = 0;
  /** Opens waiting for a descriptor after EMFILE with nothing idle to close. */
  private waiters: (() => void)[] = [];

  private readonly emfileWaitMs: number;

  /**
   * `capacity`: handles kept open beyond those pinned; at least 1 (Infinity: never evict).
   * `emfileWaitMs`: how long an open meeting EMFILE with nothing idle waits for a release.
   */
  constructor(readonly capacity: number, opts: { emfileWaitMs?: number } = {}) {
    this.emfileWaitMs = opts.emfileWaitMs ?? EMFILE_WAIT_MS;
    if (!(capacity >= 1)) throw new RangeError(`open file cache capacity must be at least 1, got ${capacity}`);
  }

  /** A closed entry for the file at `path`; nothing is opened until it is pinned. */
  file(fs: FileSystem, path: string): CachedFile {
    return new CachedFile(this, fs, path);
  }

  stats(): OpenFileStats {
    return { open: this.openCount, evictions: this.evictionCount, emfileRetries: this.emfileCount, capacity: this.capacity };
  }

  /**
   * `fs` with every call that takes a descriptor retried after EMFILE (evicting idle handles
   * first, then waiting for a release), for the files storage opens briefly (indexes written
   * whole, atomic files, directory fsyncs).
   */
  guard(fs: FileSystem): FileSystem {
    return {
      open: (path, flags) => this.retrying(() => fs.open(path, flags)),
      readFile: (path) => this.retrying(() => fs.readFile(path)),
      rename: (from, to) => fs.rename(from, to),
      unlink: (path) => fs.unlink(path),
      mkdir: (path) => fs.mkdir(path),
      rm: (path) => this.retrying(() => fs.rm(path)),
      readdir: (path) => this.retrying(() => fs.readdir(path)),
      stat: (path) => fs.stat(path),
      // On a file already open: no descriptor to retry for.
      ...(fs.writevSync && { writevSync: fs.writevSync.bind(fs) }),
    };
  }

  /** Runs `fn` (which takes a descriptor), retrying after EMFILE as the header describes. */
  async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.emfileWaitMs;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!isTooManyOpenFiles(err)) throw err;
        this.emfileCount++;
        const closing = this.evictIdle(EVICT_ON_EMFILE);
        if (closing.length > 0) {
          // Retry once the descriptors are really free, or the retry meets EMFILE again.
          await Promise.all(closing);
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StorageError(`out of file descriptors: ${this.openCount} segment files open, all in use, none freed for ${this.emfileWaitMs} ms (${(err as Error).message})`, { cause: err });
        }
        await this.released(Math.min(left, 100));
      }
    }
  }

  /** Resolves at the next unpin that makes a handle idle, or after `ms`. */
  private released(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  /** @private CachedFile only: a handle was opened. */
  opened(): void {
    this.openCount++;
  }

  /** @private CachedFile only: a handle is being closed (not by eviction). */
  closing(): void {
    this.openCount--;
  }

  /** @private CachedFile only: `f` (open, pins dropped to 0) becomes the most recently used idle file. */
  idle(f: CachedFile): void {
    f.prev = this.tail;
    f.next = null;
    if (this.tail) this.tail.next = f;
    else this.head = f;
    this.tail = f;
    if (this.openCount > this.capacity) void this.evictIdle(this.openCount - this.capacity);
    if (this.waiters.length > 0) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    }
  }

  /** @private CachedFile only: `f` leaves the idle list (pinned, or closed). */
  unlink(f: CachedFile): void {
    if (f.prev) f.prev.next = f.next;
    else if (this.head === f) this.head = f.next;
    if (f.next) f.next.prev = f.prev;
    else if (this.tail === f) this.tail = f.prev;
    f.prev = f.next = null;
  }

  /** Closes up to `n` idle handles, least recently used first; resolves each once its descriptor is free. */
  private evictIdle(n: number): Promise<void>[] {
    const closing: Promise<void>[] = [];
    while (closing.length < n && this.head) {
      const f = this.head;
      this.unlink(f);
      closing.push(f.evict());
      this.openCount--;
      this.evictionCount++;
    }
    return closing;
  }
}

/**
 * One segment file's handle, open while pinned or idle in the cache, closed otherwise.
 * Every use is `const fh = f.pin() ?? await f.pinOpen(); try { ... } finally { f.unpin(); }`
 * (or `use`), so the handle cannot be closed under the operation.
 */
export class CachedFile {
  /** @private the cache's idle list. */
  prev: CachedFile | null = null;
  /** @private the cache's idle list. */
  next: CachedFile | null = null;
  private fh: StorageFile | null = null;
  private opening: Promise<StorageFile> | null = null;
  private pins = 0;
  private closed = false;

  constructor(private readonly cache: OpenFileCache, private readonly fs: FileSystem, readonly path: string) {}

  /** Whether a handle is open now (for tests and the cache). */
  get isOpen(): boolean {
    return this.fh !== null;
  }

  /** The handle, pinned, when it is open; null when it must be opened (pinOpen). No await: the hot path. */
  pin(): StorageFile | null {
    const fh = this.fh;
    if (fh === null) return null;
    if (this.pins++ === 0) this.cache.unlink(this);
    return fh;
  }

  /**
   * The handle, pinned, opening the file with `flags` if it is closed ('r+' reopens an
   * existing segment; a new one is created with 'w+'). Rejects if the entry was closed or
   * the open failed (after EMFILE retries); the pin is then not held.
   */
  async pinOpen(flags: OpenFlags = 'r+'): Promise<StorageFile> {
    if (this.closed) throw new StorageError(`segment file ${this.path} is closed`);
    const fast = this.pin();
    if (fast) return fast;
    this.pins++;
    try {
      if (!this.opening) {
        this.opening = this.cache.retrying(() => this.fs.open(this.path, flags));
        const fh = await this.opening.finally(() => { this.opening = null; });
        this.fh = fh;
        this.cache.opened();
        return fh;
      }
      return await this.opening;
    } catch (err) {
      this.pins--;
      throw err;
    }
  }

  /** Releases a pin; the last one makes the handle idle (evictable), or closes it after close(). */
  unpin(): void {
    if (--this.pins > 0) return;
    if (this.closed) void this.closeNow();
    else if (this.fh) this.cache.idle(this);
  }

  /** pinOpen, `fn`, unpin. */
  async use<T>(fn: (fh: StorageFile) => Promise<T>): Promise<T> {
    const fh = this.pin() ?? await this.pinOpen();
    try {
      return await fn(fh);
    } finally {
      this.unpin();
    }
  }

  /**
   * Closes the handle for good (the segment is closed or deleted): now when unpinned, else
   * when the last pin is released, so an operation holding it finishes first.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pins === 0) await this.closeNow();
  }

  private async closeNow(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = null;
    this.cache.unlink(this);
    this.cache.closing();
    await fh.close().catch(() => {});
  }

  /** @private the cache only: closes the idle handle (already unlinked and uncounted); the next pin reopens it. */
  async evict(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close().catch(() => {});
  }
}

/** The cache of logs opened without one (tests, tools, embedders): never evicts, still retries EMFILE. */
export const unboundedOpenFiles = new OpenFileCache(Infinity);
