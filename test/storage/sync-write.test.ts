/**
 * Small appends are written on the event loop (StorageFile.writevSync), larger ones through
 * libuv's pool (segment.ts SYNC_WRITE_MAX_BYTES): the queue mode's state log appends ~190
 * bytes per write, where a hand-off to the pool cost ~15x the write itself
 * (docs/queue-performance.md, step 9). Either way an append is readable once it resolves,
 * and a write that fails refuses its append and leaves the log as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLogManager } from '../../src/storage/log-manager.js';
import { nodeFileSystem, type FileSystem, type StorageFile } from '../../src/storage/file-system.js';
import { SYNC_WRITE_MAX_BYTES } from '../../src/storage/segment.js';
import { StorageError } from '../../src/storage/errors.js';
import { CrashDisk } from './crash-disk.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

/** node:fs, counting the writes of `.log` files by the way they were made. */
function countingFs(): { fs: FileSystem; writes: { sync: number; pool: number } } {
  const writes = { sync: 0, pool: 0 };
  const fs: FileSystem = {
    ...nodeFileSystem,
    async open(path, flags) {
      const fh = await nodeFileSystem.open(path, flags);
      if (!path.endsWith('.log')) return fh;
      const counted: StorageFile = {
        read: (b, o, l, p) => fh.read(b, o, l, p),
        write: (b, o, l, p) => fh.write(b, o, l, p),
        writev: (bs, p) => {
          writes.pool++;
          return fh.writev(bs, p);
        },
        writevSync: (bs, p) => {
          writes.sync++;
          return fh.writevSync!(bs, p);
        },
        truncate: (l) => fh.truncate(l),
        sync: () => fh.sync(),
        datasync: () => fh.datasync(),
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
      return counted;
    },
  };
  return { fs, writes };
}

test('an append of at most SYNC_WRITE_MAX_BYTES is written on the calling thread, a larger one through the pool; both read back', async () => {
  const { dir, cleanup } = await tempDir();
  const { fs, writes } = countingFs();
  try {
    const mgr = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0, fs });
    await mgr.createTopic('t', 1);
    const log = mgr.log('t', 0)!;
    const small = batchOf(3, 0);
    assert.ok(small.length <= SYNC_WRITE_MAX_BYTES);
    await log.append(small, { durable: true });
    assert.deepEqual(writes, { sync: 1, pool: 0 }, 'a ~100-byte append goes without the thread pool');
    const big = batchOf(2, 3, undefined, SYNC_WRITE_MAX_BYTES);
    assert.ok(big.length > SYNC_WRITE_MAX_BYTES);
    await log.append(big, { durable: true });
    assert.deepEqual(writes, { sync: 1, pool: 1 }, 'a write over the bound is handed to the pool, off the event loop');
    const { bytes } = await log.read(0, 1 << 20);
    assert.deepEqual(recordsIn(bytes).map((r) => r.offset), [0, 1, 2, 3, 4]);
    await mgr.close();
    // And from the files, after a restart.
    const again = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0 });
    assert.deepEqual(recordsIn((await again.log('t', 0)!.read(0, 1 << 20)).bytes).map((r) => r.offset), [0, 1, 2, 3, 4]);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('a small append whose write fails (ENOSPC) is refused, and the next one takes its offsets', async () => {
  const disk = new CrashDisk();
  const mgr = await openLogManager('/data', { flushMs: -1 }, { retentionCheckMs: 0, fs: disk.mount() });
  await mgr.createTopic('t', 1);
  const log = mgr.log('t', 0)!;
  await log.append(batchOf(2, 0), { durable: true });
  disk.failNext('writev', 'ENOSPC');
  await assert.rejects(log.append(batchOf(3, 2), { durable: true }), (err: Error) => err instanceof StorageError && /ENOSPC/.test(err.message));
  assert.equal(log.logEndOffset, 2, 'the refused batch took no offsets');
  const r = await log.append(batchOf(1, 2), { durable: true });
  assert.equal(r.lastOffset, 2);
  assert.deepEqual(recordsIn((await log.read(0, 1 << 20)).bytes).map((x) => [x.offset, x.value]), [[0, 'v0'], [1, 'v1'], [2, 'v2']]);
  await mgr.close();
  // Nor is it in the file: reopened, the log holds the three records.
  const again = await openLogManager('/data', { flushMs: -1 }, { retentionCheckMs: 0, fs: disk.mount() });
  assert.deepEqual(recordsIn((await again.log('t', 0)!.read(0, 1 << 20)).bytes).map((x) => x.offset), [0, 1, 2]);
  await again.close();
});
