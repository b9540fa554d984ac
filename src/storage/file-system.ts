/**
 * The file-system seam: the handful of calls storage makes, and nothing else. Every file
 * storage opens, writes, fsyncs, renames or removes goes through a `FileSystem`, so a test
 * can hand in one that simulates a crash (test/storage/crash-fs.ts drops every write that
 * was not fsynced, as LazyFS does) and check which acknowledged data survives.
 *
 * The default, `nodeFileSystem`, is node:fs/promises itself: `open` returns Node's own
 * FileHandle (which satisfies `StorageFile` structurally), so appends and reads call the
 * same methods on the same object as before the seam existed: no wrapper on the hot path,
 * and no property added to Node's handles (`writevSync` is the file system's).
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
  /**
   * `file.writev` on the calling thread; returns the bytes written, or undefined when this
   * file cannot be written so (the caller then uses `writev`). Optional: without it every
   * write goes through `writev`. Segment.commit uses it only for the small appends that ask
   * for it (AppendOptions.inPlace: the state logs'), where libuv's thread pool costs more
   * than the write (IN_PLACE_WRITE_MAX_BYTES, segment.ts).
   */
  writevSync?(file: StorageFile, buffers: Buffer[], position: number): number | undefined;
}

export const nodeFileSystem: FileSystem = Object.freeze({
  open: (path: string, flags: OpenFlags) => fsp.open(path, flags),
  readFile: (path: string) => fsp.readFile(path),
  rename: (from: string, to: string) => fsp.rename(from, to),
  unlink: (path: string) => fsp.unlink(path),
  // A recursive mkdir resolves with the first directory it made, undefined when `path` existed.
  mkdir: async (path: string) => (await fsp.mkdir(path, { recursive: true })) !== undefined,
  rm: (path: string) => fsp.rm(path, { recursive: true, force: true }),
  readdir: (path: string) => fsp.readdir(path),
  stat: (path: string) => fsp.stat(path),
  // A FileHandle this file system opened has its fd; a test's wrapper around one does not.
  writevSync: (file: StorageFile, buffers: Buffer[], position: number) => {
    const fd = (file as { fd?: unknown }).fd;
    return typeof fd === 'number' ? writevSync(fd, buffers, position) : undefined;
  },
});
