/** Small metadata files replaced whole: temp file, fsync, rename, fsync of the directory. */
import { dirname } from 'node:path';
import { nodeFileSystem, type FileSystem } from './file-system.js';

export async function writeFileAtomic(path: string, data: string | Buffer, fs: FileSystem = nodeFileSystem): Promise<void> {
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
  await syncDir(dirname(path), fs);
}

/** Makes a rename or create in `dir` durable; some filesystems refuse to fsync a directory, which is fine. */
export async function syncDir(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  let fh;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // best effort
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
