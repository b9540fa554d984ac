/**
 * Appends that ask for it (AppendOptions.inPlace: the state logs') are written on the event
 * loop (StorageFile.writevSync) up to IN_PLACE_WRITE_MAX_BYTES; every other append, a
 * produce's included, goes through libuv's pool as before (docs/queue-performance.md, step
 * 12: step 9 wrote every small append in place and small acks=all produces fell to 0.67x).
 * Either way an append is readable once it resolves, and a write that fails refuses its
 * append and leaves the log as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLogManager } from '../../src/storage/log-manager.js';
import { nodeFileSystem, type FileSystem, type StorageFile } from '../../src/storage/file-system.js';
import { IN_PLACE_WRITE_MAX_BYTES } from '../../src/storage/segment.js';
import { StorageError } from '../../src/storage/errors.js';
import { logManagerGenerationDir } from '../../src/state-log/generation-log.js';
import { ShareCoordinator } from '../../src/queue/share-coordinator.js';
import { SHARE_STATE_PREFIX, ShareStateLog } from '../../src/queue/share-state-log.js';
import { ManualClock } from '../queue/helpers.js';
import { CrashDisk } from './crash-disk.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

/** node:fs, counting the writes of `.log` files by the way they were made, per topic directory. */
function countingFs(): { fs: FileSystem; writes: Map<string, { sync: number; pool: number }> } {
  const writes = new Map<string, { sync: number; pool: number }>();
  const of = (path: string) => {
    const topicDir = path.split('/').at(-2)!;
    let w = writes.get(topicDir);
    if (!w) writes.set(topicDir, w = { sync: 0, pool: 0 });
    return w;
  };
  const fs: FileSystem = {
    ...nodeFileSystem,
    async open(path, flags) {
      const fh = await nodeFileSystem.open(path, flags);
      if (!path.endsWith('.log')) return fh;
      const counted: StorageFile = {
        read: (b, o, l, p) => fh.read(b, o, l, p),
        write: (b, o, l, p) => fh.write(b, o, l, p),
        writev: (bs, p) => {
          of(path).pool++;
          return fh.writev(bs, p);
        },
        writevSync: (bs, p) => {
          of(path).sync++;
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

test('an inPlace append of at most IN_PLACE_WRITE_MAX_BYTES is written on the calling thread; a larger one, and every other append, through the pool; all read back', async () => {
  const { dir, cleanup } = await tempDir();
  const { fs, writes } = countingFs();
  try {
    const mgr = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0, fs });
    await mgr.createTopic('t', 1);
    const log = mgr.log('t', 0)!;
    const w = () => ({ ...writes.get('t-0') });
    const small = batchOf(3, 0);
    assert.ok(small.length <= IN_PLACE_WRITE_MAX_BYTES);
    await log.append(small, { durable: true, inPlace: true });
    assert.deepEqual(w(), { sync: 1, pool: 0 }, 'a ~100-byte inPlace append goes without the thread pool');
    await log.append(batchOf(1, 3), { durable: true });
    assert.deepEqual(w(), { sync: 1, pool: 1 }, 'an append that did not ask (a produce) keeps the pool');
    const big = batchOf(2, 4, undefined, IN_PLACE_WRITE_MAX_BYTES);
    assert.ok(big.length > IN_PLACE_WRITE_MAX_BYTES);
    await log.append(big, { durable: true, inPlace: true });
    assert.deepEqual(w(), { sync: 1, pool: 2 }, 'a write over the bound is handed to the pool, off the event loop');
    // Queued behind a write in progress, so written together (one group): one that asked
    // and one that did not go through the pool.
    await Promise.all([log.append(batchOf(1, 6)), log.append(batchOf(1, 7), { inPlace: true }), log.append(batchOf(1, 8))]);
    assert.deepEqual(w(), { sync: 1, pool: 4 }, 'a group with an append that did not ask is not written in place');
    const { bytes } = await log.read(0, 1 << 20);
    assert.deepEqual(recordsIn(bytes).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await mgr.close();
    // And from the files, after a restart.
    const again = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0 });
    assert.deepEqual(recordsIn((await again.log('t', 0)!.read(0, 1 << 20)).bytes).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('the share state log writes its appends in place', async () => {
  const { dir, cleanup } = await tempDir();
  const { fs, writes } = countingFs();
  try {
    const mgr = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0, fs });
    await mgr.createTopic('t', 1);
    const clock = new ManualClock();
    const c = new ShareCoordinator({ clock });
    const s = await ShareStateLog.open(logManagerGenerationDir(mgr, SHARE_STATE_PREFIX), c, { clock });
    const src = [{ topic: 't', partition: 0, logStartOffset: 0, logEndOffset: 20 }];
    c.acquire('g', 'w1', src, 10);
    await s.persist(false); // an acquisition: written, not durable
    c.ack('g', 'w1', [{ topic: 't', partition: 0, offsets: [0, 1, 2] }]);
    await s.persist(); // an ack: durable
    const w = writes.get(`${SHARE_STATE_PREFIX}-0-0`);
    assert.ok(w !== undefined && w.sync >= 2, `state appends written in place: ${JSON.stringify(w)}`);
    assert.equal(w.pool, 0, 'no state append through the pool');
    await s.idle();
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('an inPlace append whose write fails (ENOSPC) is refused, and the next one takes its offsets', async () => {
  const disk = new CrashDisk();
  const mgr = await openLogManager('/data', { flushMs: -1 }, { retentionCheckMs: 0, fs: disk.mount() });
  await mgr.createTopic('t', 1);
  const log = mgr.log('t', 0)!;
  await log.append(batchOf(2, 0), { durable: true, inPlace: true });
  disk.failNext('writev', 'ENOSPC');
  await assert.rejects(log.append(batchOf(3, 2), { durable: true, inPlace: true }), (err: Error) => err instanceof StorageError && /ENOSPC/.test(err.message));
  assert.equal(log.logEndOffset, 2, 'the refused batch took no offsets');
  const r = await log.append(batchOf(1, 2), { durable: true, inPlace: true });
  assert.equal(r.lastOffset, 2);
  assert.deepEqual(recordsIn((await log.read(0, 1 << 20)).bytes).map((x) => [x.offset, x.value]), [[0, 'v0'], [1, 'v1'], [2, 'v2']]);
  await mgr.close();
  // Nor is it in the file: reopened, the log holds the three records.
  const again = await openLogManager('/data', { flushMs: -1 }, { retentionCheckMs: 0, fs: disk.mount() });
  assert.deepEqual(recordsIn((await again.log('t', 0)!.read(0, 1 << 20)).bytes).map((x) => x.offset), [0, 1, 2]);
  await again.close();
});
