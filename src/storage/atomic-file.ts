/** Small metadata files replaced whole: temp file, fsync, rename, fsync of the directory. */
import { dirname } from 'node:path';
import { nodeFileSystem, type FileSystem } from './file-system.js';

/**
 * `syncDirectory: false` leaves the rename's durability to a later fsync of the directory by
 * the caller (one fsync for several files: a partition's clean close, partition-log.ts).
 */
export async function writeFileAtomic(
  path: string, data: string | Buffer, fs: FileSystem = nodeFileSystem, opts: { syncDirectory?: boolean } = {},
): Promise<void> {
  const tmp = `${path}.tmp`;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fh = await fs.open(tmp, 'w');
  try {
    for (let done = 0; done < bytes.length;) done += (await fh.write(bytes, done, bytes.length - done, done)).bytesWritten;
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
  if (opts.syncDirectory !== false) await syncDir(dirname(path), fs);
}

/**
 * Errors that mean "this platform or filesystem cannot fsync a directory" (Windows refuses
 * to open one, some FUSE and network filesystems reject the fsync): nothing more can be done
 * there, so they are ignored. Any other error (EIO above all) means the entry may not be
 * durable, and is thrown: a caller must not go on as if it were.
 */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EPERM', 'EACCES']);

/** Makes a rename or create in `dir` durable (where the filesystem supports fsync of a directory). */
export async function syncDir(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  let fh;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fh?.close().catch(() => {});
  }
}

export async function readOptionalText(path: string, fs: FileSystem = nodeFileSystem): Promise<string | null> {
  try {
    return (await fs.readFile(path)).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
