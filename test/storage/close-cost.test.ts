/**
 * What a partition's open and clean close cost in file-system calls. A broker closes every partition
 * at each restart (20,000 of them in test/integration/open-files.test.ts), so each fsync and
 * each descriptor a close takes is paid 20,000 times. Durability across the close is what
 * test/storage/power-loss.test.ts and crash-disk.test.ts check; this checks the count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DiskPartitionLog, CLEAN_SHUTDOWN_FILE } from '../../src/storage/partition-log.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

/** node:fs, counting opens, file and directory fsyncs and renames. */
function countingFs(): { fs: FileSystem; counts: { opens: number; fsyncs: number; dirFsyncs: number; renames: number }; reset(): void } {
  const counts = { opens: 0, fsyncs: 0, dirFsyncs: 0, renames: 0 };
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      counts.opens++;
      const fh = await nodeFileSystem.open(path, flags);
      const isDir = (await fh.stat() as { isDirectory?: () => boolean }).isDirectory?.() === true;
      return Object.assign(Object.create(fh) as typeof fh, {
        sync: () => { if (isDir) counts.dirFsyncs++; else counts.fsyncs++; return fh.sync(); },
        datasync: () => { counts.fsyncs++; return fh.datasync(); },
        read: fh.read.bind(fh), write: fh.write.bind(fh), writev: fh.writev.bind(fh), truncate: fh.truncate.bind(fh),
        stat: fh.stat.bind(fh), close: fh.close.bind(fh),
      });
    },
    rename: (from, to) => { counts.renames++; return nodeFileSystem.rename(from, to); },
  };
  return { fs, counts, reset: () => { counts.opens = counts.fsyncs = counts.dirFsyncs = counts.renames = 0; } };
}

test('a clean close fsyncs the partition directory once (marker and snapshot together) and a clean reopen reads every record', async () => {
  const { dir, cleanup } = await tempDir();
  const c = countingFs();
  try {
    const pdir = join(dir, 't-0');
    const log = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs: c.fs });
    await log.append(batchOf(3, 0));
    c.reset();
    await log.close();
    // Was: a recovery-point write, the snapshot and the marker each renamed and their directory fsynced (3).
    assert.equal(c.counts.dirFsyncs, 1, JSON.stringify(c.counts));
    // The log's datasync, the snapshot's and the two indexes' fsyncs; the empty marker needs none.
    assert.ok(c.counts.fsyncs <= 4, JSON.stringify(c.counts));
    assert.equal(c.counts.renames, 1, `only the snapshot is replaced by rename: ${JSON.stringify(c.counts)}`);
    assert.ok(existsSync(join(pdir, CLEAN_SHUTDOWN_FILE)));

    const again = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs: c.fs });
    assert.equal(again.logEndOffset, 3);
    assert.deepEqual(recordsIn((await again.read(0, 1 << 20)).bytes).map((r) => r.offset), [0, 1, 2]);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('opening a new partition, and reopening it clean, makes no call that fails: missing optional files are known from one listing', async () => {
  const { dir, cleanup } = await tempDir();
  const failed: string[] = [];
  const note = <T>(what: string, path: string, p: Promise<T>) => p.catch((err: NodeJS.ErrnoException) => { failed.push(`${what} ${path}: ${err.code}`); throw err; });
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: (path, flags) => note('open', path, nodeFileSystem.open(path, flags)),
    readFile: (path) => note('readFile', path, nodeFileSystem.readFile(path)),
    stat: (path) => note('stat', path, nodeFileSystem.stat(path)),
  };
  try {
    const pdir = join(dir, 't-0');
    // Was: the marker's stat, recovery-point, leader-epoch-checkpoint, the producer snapshot and log-start-offset, each ENOENT.
    const log = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs });
    assert.deepEqual(failed, []);
    await log.append(batchOf(2, 0));
    await log.close();
    const again = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs });
    assert.equal(again.logEndOffset, 2);
    await again.close();
    assert.deepEqual(failed, []);
  } finally {
    await cleanup();
  }
});
