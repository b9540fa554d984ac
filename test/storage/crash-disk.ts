/**
 * A simulated disk for crash tests, in the spirit of LazyFS: it keeps, per file, the
 * content as of the last fsync/fdatasync (durable) beside the current one (volatile), and,
 * per directory, the entries as of the last fsync of that directory beside the current ones.
 * `crash()` throws away everything that was not made durable, as a power cut does to the
 * page cache, and kills every file system mounted so far (their calls reject with EIO, as
 * the dead process would never make them). `mount()` then gives a fresh `FileSystem` over
 * the durable state, on which the storage stack is reopened.
 *
 * Why not SIGKILL (test/storage/crash.test.ts): a killed process leaves its writes in the
 * page cache, so a missing fsync goes unnoticed. Here it loses the data.
 *
 * What it assumes (`directories`):
 *  - 'strict' (default): a created, renamed or removed name is durable only after an fsync
 *    of its directory, which is what POSIX and Linux's fsync(2) page promise ("Calling
 *    fsync() does not necessarily ensure that the entry in the directory containing the
 *    file has also reached disk. For that an explicit fsync() on a file descriptor for the
 *    directory is also needed."). A directory entry made durable points at the file itself,
 *    whose content is then whatever of it was fsynced.
 *  - 'immediate': name operations are durable at once (as LazyFS, which passes them through,
 *    and roughly what ext4's journal gives in practice). Only unsynced file data is lost.
 * Unsynced writes are lost whole (no torn pages, no partial subsets): a crash keeps exactly
 * the last fsynced content. Storage's recovery handles torn tails separately (recovery tests).
 *
 * `lyingDatasync` makes fdatasync (what segment appends use; metadata files use fsync)
 * report success without making anything durable, for tests that show a crash test notices
 * data acknowledged before it was on disk.
 *
 * `failNext(op, code)` makes one call fail with an errno code and no crash (an I/O error).
 *
 * `crashAfterOps(n)` crashes inside the n-th file-system call from now (the call fails),
 * so a property test can crash at any point of a sequence: mid-roll, between the write and
 * the rename of an atomic file, between a write and its fsync.
 */
import { posix } from 'node:path';
import type { FileSystem, OpenFlags, StorageFile } from '../../src/storage/file-system.js';

interface FileNode {
  kind: 'file';
  /** Current bytes; `size` of them are the file. */
  data: Buffer;
  size: number;
  /** Bytes as of the last fsync or fdatasync. */
  durable: Buffer;
}

interface DirNode {
  kind: 'dir';
  entries: Map<string, Node>;
  /** Entries as of the last fsync of this directory (strict mode only). */
  durable: Map<string, Node>;
}

type Node = FileNode | DirNode;

export interface CrashDiskOptions {
  directories?: 'strict' | 'immediate';
  lyingDatasync?: boolean;
}

function fsError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const messages: Record<string, string> = {
    ENOENT: 'no such file or directory', EEXIST: 'file already exists', EISDIR: 'illegal operation on a directory',
    ENOTDIR: 'not a directory', ENOTEMPTY: 'directory not empty', EIO: 'i/o error (simulated crash)', EBADF: 'bad file descriptor',
  };
  return Object.assign(new Error(`${code}: ${messages[code] ?? code}, ${op} '${path}'`), { code, syscall: op, path });
}

export class CrashDisk {
  private root: DirNode = newDir();
  private epoch = 0;
  private opsLeft = Infinity;
  private syncSeq = 0;
  private failures: { op: string; code: string; path?: string }[] = [];
  private lastSync = new WeakMap<Node, number>();
  /** File-system calls so far (for sizing crash points). */
  ops = 0;
  /** Crashes so far. */
  crashes = 0;
  /** fsync/fdatasync calls that reached the disk (directories included). */
  syncs = 0;
  readonly strict: boolean;
  readonly lyingDatasync: boolean;

  constructor(opts: CrashDiskOptions = {}) {
    this.strict = (opts.directories ?? 'strict') === 'strict';
    this.lyingDatasync = opts.lyingDatasync === true;
  }

  /** A FileSystem over the current state; it dies at the next crash(). */
  mount(): FileSystem {
    return new CrashFs(this, this.epoch);
  }

  /** Whether file systems mounted at `epoch` are still alive. */
  alive(epoch: number): boolean {
    return epoch === this.epoch;
  }

  /** Crash inside the n-th file-system call from now (n >= 1); Infinity disarms. */
  crashAfterOps(n: number): void {
    this.opsLeft = n;
  }

  /** Loses everything not made durable; every mounted file system dies. */
  crash(): void {
    this.epoch++;
    this.crashes++;
    this.opsLeft = Infinity;
    const copied = new Map<Node, Node>();
    const survive = (n: Node): Node => {
      let c = copied.get(n);
      if (c) return c;
      if (n.kind === 'file') {
        c = { kind: 'file', data: Buffer.from(n.durable), size: n.durable.length, durable: Buffer.from(n.durable) };
        copied.set(n, c);
      } else {
        const d = newDir();
        copied.set(n, d);
        for (const [name, child] of this.strict ? n.durable : n.entries) d.entries.set(name, survive(child));
        d.durable = new Map(d.entries);
        c = d;
      }
      return c;
    };
    this.root = survive(this.root) as DirNode;
  }

  /** The next `op` call (on `path`, when given) fails with `code`, without a crash: an I/O error the caller must handle. */
  failNext(op: string, code: string, path?: string): void {
    this.failures.push({ op, code, ...(path !== undefined && { path }) });
  }

  /** Counts a call of a mounted file system; crashes when the armed count runs out. */
  step(epoch: number, op: string, path: string): void {
    if (epoch !== this.epoch) throw fsError('EIO', op, path);
    this.ops++;
    const f = this.failures.findIndex((x) => x.op === op && (x.path === undefined || posix.resolve(x.path) === posix.resolve(path)));
    if (f >= 0) throw fsError(this.failures.splice(f, 1)[0].code, op, path);
    if (--this.opsLeft <= 0) {
      this.crash();
      throw fsError('EIO', op, path);
    }
  }

  // --- the tree ----------------------------------------------------------------

  lookup(path: string): Node | undefined {
    let node: Node = this.root;
    for (const part of parts(path)) {
      if (node.kind !== 'dir') return undefined;
      const next = node.entries.get(part);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  parentOf(path: string, op: string): { dir: DirNode; name: string } {
    const p = parts(path);
    const name = p.pop();
    if (name === undefined) throw fsError('EISDIR', op, path);
    const dir = this.lookup('/' + p.join('/'));
    if (!dir) throw fsError('ENOENT', op, path);
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', op, path);
    return { dir, name };
  }

  /** Name operations: durable now in 'immediate' mode, at the directory's next fsync in 'strict' mode. */
  setEntry(dir: DirNode, name: string, node: Node | undefined): void {
    if (node) dir.entries.set(name, node);
    else dir.entries.delete(name);
    if (!this.strict) {
      if (node) dir.durable.set(name, node);
      else dir.durable.delete(name);
    }
  }

  /**
   * An fsync takes time, like a real one: it covers what was written before the call, and
   * returns a turn of the event loop later, so other writes (and group-commit followers)
   * run while it is in flight. It counts only if it returns before a crash.
   */
  async sync(epoch: number, node: Node, data = false): Promise<void> {
    this.syncs++;
    const seq = ++this.syncSeq;
    const content = node.kind === 'file' ? Buffer.from(node.data.subarray(0, node.size)) : new Map(node.entries);
    await new Promise((resolve) => setImmediate(resolve));
    if (epoch !== this.epoch) throw fsError('EIO', data ? 'fdatasync' : 'fsync', '(in flight at the crash)');
    if (data && this.lyingDatasync) return;
    // A later fsync of the same node may have returned first; it covers at least as much.
    if (seq < (this.lastSync.get(node) ?? 0)) return;
    this.lastSync.set(node, seq);
    if (node.kind === 'file') node.durable = content as Buffer;
    else node.durable = content as Map<string, Node>;
  }

  /** Creates `path` and its parents durably (a data directory that existed before the broker started). */
  prepareDir(path: string): void {
    let dir = this.root;
    for (const part of parts(path)) {
      let next = dir.entries.get(part);
      if (!next) {
        next = newDir();
        dir.entries.set(part, next);
        dir.durable.set(part, next);
      }
      if (next.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', path);
      dir = next;
    }
  }

  /** Current (volatile) bytes of a file, for assertions; undefined when missing. */
  contentOf(path: string): Buffer | undefined {
    const n = this.lookup(path);
    return n?.kind === 'file' ? Buffer.from(n.data.subarray(0, n.size)) : undefined;
  }
}

function newDir(): DirNode {
  return { kind: 'dir', entries: new Map(), durable: new Map() };
}

function parts(path: string): string[] {
  return posix.resolve('/', path).split('/').filter((s) => s.length > 0);
}

function ensureCapacity(f: FileNode, size: number): void {
  if (size <= f.data.length) return;
  const grown = Buffer.alloc(Math.max(size, f.data.length * 2, 4096));
  f.data.copy(grown, 0, 0, f.size);
  f.data = grown;
}

function writeAt(f: FileNode, src: Buffer, pos: number): void {
  ensureCapacity(f, pos + src.length);
  if (pos > f.size) f.data.fill(0, f.size, pos);
  src.copy(f.data, pos);
  f.size = Math.max(f.size, pos + src.length);
}

class CrashFs implements FileSystem {
  constructor(private readonly disk: CrashDisk, private readonly epoch: number) {}

  private step(op: string, path: string): void {
    this.disk.step(this.epoch, op, path);
  }

  async open(path: string, flags: OpenFlags): Promise<StorageFile> {
    this.step('open', path);
    let node = this.disk.lookup(path);
    if (flags === 'w' || flags === 'w+') {
      if (node?.kind === 'dir') throw fsError('EISDIR', 'open', path);
      if (node) {
        node.size = 0;
      } else {
        const { dir, name } = this.disk.parentOf(path, 'open');
        node = { kind: 'file', data: Buffer.alloc(0), size: 0, durable: Buffer.alloc(0) };
        this.disk.setEntry(dir, name, node);
      }
    } else if (!node) {
      throw fsError('ENOENT', 'open', path);
    } else if (node.kind === 'dir' && flags !== 'r') {
      throw fsError('EISDIR', 'open', path);
    }
    return new CrashFile(this.disk, this.epoch, path, node, flags !== 'r');
  }

  async readFile(path: string): Promise<Buffer> {
    this.step('readFile', path);
    const n = this.disk.lookup(path);
    if (!n) throw fsError('ENOENT', 'open', path);
    if (n.kind === 'dir') throw fsError('EISDIR', 'read', path);
    return Buffer.from(n.data.subarray(0, n.size));
  }

  async rename(from: string, to: string): Promise<void> {
    this.step('rename', from);
    const node = this.disk.lookup(from);
    if (!node) throw fsError('ENOENT', 'rename', from);
    const src = this.disk.parentOf(from, 'rename');
    const dst = this.disk.parentOf(to, 'rename');
    const existing = dst.dir.entries.get(dst.name);
    if (existing?.kind === 'dir') throw fsError('EISDIR', 'rename', to);
    this.disk.setEntry(src.dir, src.name, undefined);
    this.disk.setEntry(dst.dir, dst.name, node);
  }

  async unlink(path: string): Promise<void> {
    this.step('unlink', path);
    const n = this.disk.lookup(path);
    if (!n) throw fsError('ENOENT', 'unlink', path);
    if (n.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    const { dir, name } = this.disk.parentOf(path, 'unlink');
    this.disk.setEntry(dir, name, undefined);
  }

  async mkdir(path: string): Promise<boolean> {
    this.step('mkdir', path);
    let at = '';
    let made = false;
    for (const part of parts(path)) {
      at += '/' + part;
      const n = this.disk.lookup(at);
      if (n?.kind === 'file') throw fsError('ENOTDIR', 'mkdir', at);
      if (!n) {
        const { dir, name } = this.disk.parentOf(at, 'mkdir');
        this.disk.setEntry(dir, name, newDir());
        made = true;
      }
    }
    return made;
  }

  async rm(path: string): Promise<void> {
    this.step('rm', path);
    if (!this.disk.lookup(path)) return;
    // Only the name goes: a strict-mode crash before the parent's fsync brings the tree back, as it would on disk.
    const { dir, name } = this.disk.parentOf(path, 'rm');
    this.disk.setEntry(dir, name, undefined);
  }

  async readdir(path: string): Promise<string[]> {
    this.step('readdir', path);
    const n = this.disk.lookup(path);
    if (!n) throw fsError('ENOENT', 'scandir', path);
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
    return [...n.entries.keys()].sort();
  }

  async stat(path: string): Promise<{ size: number }> {
    this.step('stat', path);
    const n = this.disk.lookup(path);
    if (!n) throw fsError('ENOENT', 'stat', path);
    return { size: n.kind === 'file' ? n.size : 4096 };
  }
}

class CrashFile implements StorageFile {
  private closed = false;

  constructor(
    private readonly disk: CrashDisk, private readonly epoch: number, private readonly path: string,
    private readonly node: Node, private readonly writable: boolean,
  ) {}

  private file(op: string, write = false): FileNode {
    this.disk.step(this.epoch, op, this.path);
    if (this.closed) throw fsError('EBADF', op, this.path);
    if (this.node.kind !== 'file') throw fsError('EISDIR', op, this.path);
    if (write && !this.writable) throw fsError('EBADF', op, this.path);
    return this.node;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const f = this.file('read');
    const n = Math.max(0, Math.min(length, f.size - position));
    f.data.copy(buffer, offset, position, position + n);
    return { bytesRead: n };
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    const f = this.file('write', true);
    writeAt(f, buffer.subarray(offset, offset + length), position);
    return { bytesWritten: length };
  }

  async writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    return { bytesWritten: this.writevSync(buffers, position) };
  }

  /** The same op as writev (crash points and failNext('writev') count both), on the calling thread. */
  writevSync(buffers: Buffer[], position: number): number {
    const f = this.file('writev', true);
    let at = position;
    for (const b of buffers) {
      writeAt(f, b, at);
      at += b.length;
    }
    return at - position;
  }

  async truncate(length: number): Promise<void> {
    const f = this.file('ftruncate', true);
    ensureCapacity(f, length);
    if (length > f.size) f.data.fill(0, f.size, length);
    f.size = length;
  }

  async sync(): Promise<void> {
    this.disk.step(this.epoch, 'fsync', this.path);
    if (this.closed) throw fsError('EBADF', 'fsync', this.path);
    await this.disk.sync(this.epoch, this.node);
  }

  async datasync(): Promise<void> {
    this.disk.step(this.epoch, 'fdatasync', this.path);
    if (this.closed) throw fsError('EBADF', 'fdatasync', this.path);
    await this.disk.sync(this.epoch, this.node, true);
  }

  async stat(): Promise<{ size: number }> {
    const f = this.file('fstat');
    return { size: f.size };
  }

  async close(): Promise<void> {
    // Closing never fails at a crash: the process is gone either way, and storage closes in finally blocks.
    this.closed = true;
  }
}

/**
 * fast-check parameters for a crash property: SLUICE_CRASH_RUNS cases (default `defaultRuns`),
 * and SLUICE_CRASH_SEED, when set, to replay the seed fast-check printed for a failure.
 */
export function crashRunParams(defaultRuns: number): { numRuns: number; seed?: number } {
  const seed = process.env.SLUICE_CRASH_SEED;
  return { numRuns: Number(process.env.SLUICE_CRASH_RUNS ?? defaultRuns), ...(seed && { seed: Number(seed) }) };
}
