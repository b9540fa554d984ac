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

test('opening a new partition makes no call that fails and does not list its new directory; reopening it clean lists it once', async () => {
  const { dir, cleanup } = await tempDir();
  const failed: string[] = [];
  const note = <T>(what: string, path: string, p: Promise<T>) => p.catch((err: NodeJS.ErrnoException) => { failed.push(`${what} ${path}: ${err.code}`); throw err; });
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: (path, flags) => note('open', path, nodeFileSystem.open(path, flags)),
    readFile: (path) => note('readFile', path, nodeFileSystem.readFile(path)),
    stat: (path) => note('stat', path, nodeFileSystem.stat(path)),
    readdir: (path) => { listed.push(path); return nodeFileSystem.readdir(path); },
  };
  const listed: string[] = [];
  try {
    const pdir = join(dir, 't-0');
    // Was: the marker's stat, recovery-point, leader-epoch-checkpoint, the producer snapshot and log-start-offset, each ENOENT.
    const log = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs });
    assert.deepEqual(failed, []);
    // A directory made by this open holds nothing: it is not listed.
    assert.deepEqual(listed, []);
    await log.append(batchOf(2, 0));
    await log.close();
    const again = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs });
    assert.equal(again.logEndOffset, 2);
    await again.close();
    assert.deepEqual(failed, []);
    assert.deepEqual(listed, [pdir]);
  } finally {
    await cleanup();
  }
});

/**
 * node:fs, writing to `events` in call order: `unlink-marker`, `dir-fsync`, and `change <what>`
 * for every call that changes a file (a write, a truncation, a create, a rename, an unlink).
 */
function recordingFs(events: string[]): FileSystem {
  return {
    ...nodeFileSystem,
    open: async (path, flags) => {
      if (flags === 'w' || flags === 'w+') events.push(`change create ${path}`);
      const fh = await nodeFileSystem.open(path, flags);
      const isDir = (await fh.stat() as { isDirectory?: () => boolean }).isDirectory?.() === true;
      const change = <A extends unknown[], R>(what: string, fn: (...a: A) => Promise<R>) => (...a: A) => { events.push(`change ${what} ${path}`); return fn(...a); };
      return Object.assign(Object.create(fh) as typeof fh, {
        sync: () => { if (isDir) events.push('dir-fsync'); return fh.sync(); },
        datasync: fh.datasync.bind(fh), read: fh.read.bind(fh), stat: fh.stat.bind(fh), close: fh.close.bind(fh),
        write: change('write', fh.write.bind(fh)), writev: change('writev', fh.writev.bind(fh)), truncate: change('truncate', fh.truncate.bind(fh)),
      });
    },
    rename: (from, to) => { events.push(`change rename ${to}`); return nodeFileSystem.rename(from, to); },
    unlink: (path) => { events.push(path.endsWith(CLEAN_SHUTDOWN_FILE) ? 'unlink-marker' : `change unlink ${path}`); return nodeFileSystem.unlink(path); },
    rm: (path) => { events.push(`change rm ${path}`); return nodeFileSystem.rm(path); },
  };
}

test('an untouched partition\'s clean reopen and close change no file: the marker stays, and a crash meanwhile reopens without a scan', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const pdir = join(dir, 't-0');
    const log = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig());
    await log.append(batchOf(3, 0));
    await log.close();
    const events: string[] = [];
    const fs = recordingFs(events);
    // Was: an unlink and a directory fsync at open; the snapshot, the marker and a directory fsync at close.
    const reopened = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { fs });
    assert.deepEqual(await reopened.read(0, 1 << 20).then((r) => recordsIn(r.bytes).map((x) => x.offset)), [0, 1, 2]);
    await reopened.close();
    assert.deepEqual(events, []);
    assert.ok(existsSync(join(pdir, CLEAN_SHUTDOWN_FILE)));
    // A crash of a log opened clean and not changed: the next open is clean (no scan, no event).
    const crashed = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig());
    const logged: string[] = [];
    const again = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig(), { logger: (event) => logged.push(event) });
    assert.deepEqual(logged, []);
    assert.equal(again.logEndOffset, 3);
    await again.close();
    await crashed.close(); // only to release its file handle
  } finally {
    await cleanup();
  }
});

test('every change to a partition opened clean first removes the marker, durably: appends, truncations, log-start moves, epochs, retention', async () => {
  const changes: [string, (log: DiskPartitionLog) => Promise<unknown>][] = [
    ['append', (log) => log.append(batchOf(2, 16))],
    ['truncateTo', (log) => log.truncateTo(3)],
    ['truncateFullyAndStartAt', (log) => log.truncateFullyAndStartAt(40)],
    ['advanceLogStartOffset', (log) => log.advanceLogStartOffset(9)],
    ['assignLeaderEpoch', (log) => log.assignLeaderEpoch(7)],
    ['enforceRetention', async (log) => assert.ok(await log.enforceRetention(Date.now() + 3_600_000) > 0)],
  ];
  // Small segments, so there are several (retention and log-start moves delete some).
  const config = effectiveConfig({ segmentBytes: 300, retentionMs: 1000 });
  for (const [name, change] of changes) {
    const { dir, cleanup } = await tempDir();
    try {
      const pdir = join(dir, 't-0');
      const setup = await DiskPartitionLog.open(pdir, 't', 0, config, { now: () => 1_700_000_000_000 });
      for (let i = 0; i < 8; i++) await setup.append(batchOf(2, i * 2));
      await setup.close();
      const events: string[] = [];
      const log = await DiskPartitionLog.open(pdir, 't', 0, config, { fs: recordingFs(events) });
      assert.equal(events.length, 0, `${name}: the open changed a file: ${events.join(", ")}`);
      await change(log);
      const unlinked = events.indexOf('unlink-marker');
      const firstChange = events.findIndex((e) => e.startsWith('change '));
      assert.ok(unlinked >= 0, `${name}: the marker was not removed: ${events.join(', ')}`);
      assert.ok(firstChange > unlinked && events.slice(unlinked, firstChange).includes('dir-fsync'),
        `${name}: a file changed before the marker's removal was durable: ${events.join(', ')}`);
      assert.ok(!existsSync(join(pdir, CLEAN_SHUTDOWN_FILE)), name);
      await log.close();
    } finally {
      await cleanup();
    }
  }
});
