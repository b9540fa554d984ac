/**
 * A FileSystem over node:fs that counts the descriptors it has open and refuses an open
 * past `limit` with EMFILE, as the kernel does at RLIMIT_NOFILE, so tests can run storage
 * under a small file limit inside the test process. Each handle refuses calls once closed
 * (EBADF), so a handle closed under an operation fails that operation loudly.
 */
import { nodeFileSystem, type FileSystem, type OpenFlags, type StorageFile } from '../../src/storage/file-system.js';

function errno(code: string, op: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${op} '${path}'`), { code, syscall: op, path });
}

export class FdLimitedFs {
  /** Descriptors open now. */
  open = 0;
  /** Most descriptors open at once. */
  peak = 0;
  /** Opens refused with EMFILE. */
  refused = 0;
  /** Calls made on a handle after it was closed (must stay 0). */
  useAfterClose = 0;

  /** The file system to hand to storage. */
  readonly fs: FileSystem;

  constructor(public limit: number, private readonly base: FileSystem = nodeFileSystem) {
    this.fs = {
      open: (path, flags) => this.openFile(path, flags),
      // readFile and readdir hold a descriptor while they run.
      readFile: (path) => this.holding(path, () => base.readFile(path)),
      rename: (a, b) => base.rename(a, b),
      unlink: (path) => base.unlink(path),
      mkdir: (path) => base.mkdir(path),
      rm: (path) => base.rm(path),
      readdir: (path) => this.holding(path, () => base.readdir(path)),
      stat: (path) => base.stat(path),
    };
  }

  private async holding<T>(path: string, fn: () => Promise<T>): Promise<T> {
    this.take(path);
    try {
      return await fn();
    } finally {
      this.open--;
    }
  }

  private take(path: string): void {
    if (this.open >= this.limit) {
      this.refused++;
      throw errno('EMFILE', 'open', path);
    }
    this.open++;
    this.peak = Math.max(this.peak, this.open);
  }

  async openFile(path: string, flags: OpenFlags): Promise<StorageFile> {
    this.take(path);
    let fh: StorageFile;
    try {
      fh = await this.base.open(path, flags);
    } catch (err) {
      this.open--;
      throw err;
    }
    let closed = false;
    const guard = <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) => (...a: A): Promise<R> => {
      if (closed) {
        this.useAfterClose++;
        return Promise.reject(errno('EBADF', op, path));
      }
      return fn(...a);
    };
    return {
      read: guard('read', (b: Buffer, o: number, l: number, p: number) => fh.read(b, o, l, p)),
      write: guard('write', (b: Buffer, o: number, l: number, p: number) => fh.write(b, o, l, p)),
      writev: guard('writev', (bs: Buffer[], p: number) => fh.writev(bs, p)),
      truncate: guard('truncate', (n: number) => fh.truncate(n)),
      sync: guard('fsync', () => fh.sync()),
      datasync: guard('fdatasync', () => fh.datasync()),
      stat: guard('fstat', () => fh.stat()),
      close: async () => {
        if (closed) return;
        closed = true;
        this.open--;
        await fh.close();
      },
    };
  }
}
