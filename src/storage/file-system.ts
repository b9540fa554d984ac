/**
 * The file-system seam: the handful of calls storage makes, and nothing else. Every file
 * storage opens, writes, fsyncs, renames or removes goes through a `FileSystem`, so a test
 * can hand in one that simulates a crash (test/storage/crash-fs.ts drops every write that
 * was not fsynced, as LazyFS does) and check which acknowledged data survives.
 *
 * The default, `nodeFileSystem`, is node:fs/promises itself: `open` returns Node's own
 * FileHandle (which satisfies `StorageFile` structurally, given `writevSync` on its fd), so
 * appends and reads call the same methods on the same object as before the seam existed:
 * no wrapper on the hot path.
 *
 * Errors are Node's: a missing path rejects with an error whose `code` is 'ENOENT'
 * (storage relies on that for optional files); an implementation must do the same.
 */
import { writevSync } from 'node:fs';
import * as fsp from 'node:fs/promises';

/** An open file (or, opened with 'r', a directory: `sync()` then makes its entries durable). */
export interface StorageFile {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  /**
   * The same write on the calling thread; returns the bytes written. Optional: without it
   * every write goes through `writev`. Segment.commit uses it only for the small appends
   * that ask for it (AppendOptions.inPlace: the state logs'), where libuv's thread pool
   * costs more than the write (IN_PLACE_WRITE_MAX_BYTES, segment.ts).
   */
  writevSync?(buffers: Buffer[], position: number): number;
  truncate(length: number): Promise<void>;
  /** fsync: data and metadata on stable storage. */
  sync(): Promise<void>;
  /** fdatasync: data (and the size needed to read it back) on stable storage. */
  datasync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** Node's open flags that storage uses: read, read-write, and (w, w+) create-or-truncate. */
export type OpenFlags = 'r' | 'r+' | 'w' | 'w+';

export interface FileSystem {
  open(path: string, flags: OpenFlags): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /**
   * Creates the directory and any missing parents; no error when it exists. True when `path`
   * itself was made here (so it is empty: a new partition's open skips listing it).
   */
  mkdir(path: string): Promise<boolean>;
  /** Removes a file or a directory tree; no error when it is missing. */
  rm(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<{ size: number }>;
}

export const nodeFileSystem: FileSystem = Object.freeze({
  open: async (path: string, flags: OpenFlags): Promise<StorageFile> => {
    const fh = await fsp.open(path, flags);
    // Node's own FileHandle, with the one call it lacks: set once per open, not per write.
    return Object.assign(fh, { writevSync: (buffers: Buffer[], position: number) => writevSync(fh.fd, buffers, position) });
  },
  readFile: (path: string) => fsp.readFile(path),
  rename: (from: string, to: string) => fsp.rename(from, to),
  unlink: (path: string) => fsp.unlink(path),
  // A recursive mkdir resolves with the first directory it made, undefined when `path` existed.
  mkdir: async (path: string) => (await fsp.mkdir(path, { recursive: true })) !== undefined,
  rm: (path: string) => fsp.rm(path, { recursive: true, force: true }),
  readdir: (path: string) => fsp.readdir(path),
  stat: (path: string) => fsp.stat(path),
});
