/**
 * Leader epochs in the partition log: the `leaderEpoch` append option stamps the batches and
 * feeds the cache, `asFollower` stores the leader's bytes unchanged, and the
 * `leader-epoch-checkpoint` file survives restarts, damage and a power loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { InvalidAppendError, UnexpectedAppendOffsetError } from '../../src/storage/errors.js';
import { LEADER_EPOCH_CHECKPOINT_FILE, parseCheckpoint } from '../../src/storage/leader-epoch-checkpoint.js';
import { validateBatches } from '../../src/record/index.js';
import { CrashDisk } from './crash-disk.js';
import { batchOf, epochRuns, storedBatches, tempDir } from './helpers.js';

const CFG = effectiveConfig({ segmentBytes: 1000, indexIntervalBytes: 300, retentionMs: -1 });

test('leaderEpoch stamps every batch (CRC still valid), records each new epoch once, and answers endOffsetForEpoch', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await log.append(Buffer.concat([batchOf(2, 0), batchOf(3, 2)]), { leaderEpoch: 4 });
    await log.append(batchOf(1, 5), { leaderEpoch: 4 });
    await log.append(batchOf(2, 6), { leaderEpoch: 7, durable: true });
    const stored = await storedBatches(log);
    assert.deepEqual(stored.map((b) => [b.base, b.epoch]), [[0, 4], [2, 4], [5, 4], [6, 7]]);
    const { bytes } = await log.read(0, 1 << 20);
    assert.doesNotThrow(() => validateBatches(bytes), 'the epoch is outside the CRC: stored batches still pass it');
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 4, startOffset: 0 }, { epoch: 7, startOffset: 6 }]);
    assert.equal(log.latestEpoch(), 7);
    assert.equal(await readFile(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8'), '0\n2\n4 0\n7 6\n');
    assert.deepEqual(log.endOffsetForEpoch(7), { epoch: 7, endOffset: 8 });
    assert.deepEqual(log.endOffsetForEpoch(5), { epoch: 4, endOffset: 6 });
    assert.deepEqual(log.endOffsetForEpoch(2), { epoch: 2, endOffset: 0 });
    assert.deepEqual(log.endOffsetForEpoch(9), { epoch: -1, endOffset: -1 });
    // A stale leader's epoch is stamped (the caller asked) but cannot rewrite the history.
    await log.append(batchOf(1, 8), { leaderEpoch: 6 });
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 4, startOffset: 0 }, { epoch: 7, startOffset: 6 }]);
    await log.close();

    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    assert.deepEqual(again.leaderEpochs(), [{ epoch: 4, startOffset: 0 }, { epoch: 7, startOffset: 6 }], 'read back from the checkpoint');
    await again.close();
  } finally {
    await cleanup();
  }
});

test('bad append options are refused with a clear error and store nothing', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    for (const epoch of [-1, 1.5, 2 ** 31, Number.NaN]) {
      await assert.rejects(log.append(batchOf(1, 0), { leaderEpoch: epoch }), (e: Error) => e instanceof InvalidAppendError && /leader epoch/.test(e.message));
    }
    await assert.rejects(log.append(batchOf(1, 0), { leaderEpoch: 1, asFollower: true }), InvalidAppendError);
    assert.equal(log.logEndOffset, 0);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('a log written without leader epochs has no checkpoint file and an empty cache', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await log.append(batchOf(3, 0));
    await log.close();
    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    assert.ok(!(await readdir(dir)).includes(LEADER_EPOCH_CHECKPOINT_FILE));
    assert.deepEqual(again.leaderEpochs(), []);
    assert.equal(again.latestEpoch(), -1);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('asFollower stores the leader\'s bytes unchanged, offsets and epochs included, and refuses bytes that do not continue the log', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const leader = await DiskPartitionLog.open(join(dir, 'leader'), 't', 0, CFG);
    for (let i = 0; i < 12; i++) await leader.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: i < 5 ? 1 : 3 });
    const follower = await DiskPartitionLog.open(join(dir, 'follower'), 't', 0, CFG);
    const first = (await leader.read(0, 400)).bytes;
    await follower.append(Buffer.from(first), { asFollower: true });
    // Out of place: again from 0, from past the end, and batches with a gap between them.
    await assert.rejects(follower.append(Buffer.from(first), { asFollower: true }), (e: UnexpectedAppendOffsetError) =>
      e instanceof UnexpectedAppendOffsetError && e.firstOffset === 0 && e.expectedOffset === follower.logEndOffset && e.code === 'INVALID_REQUEST');
    const end = follower.logEndOffset;
    const later = (await leader.read(end + 6, 400)).bytes; // a batch gap after `next`
    await assert.rejects(follower.append(Buffer.from(later), { asFollower: true }), UnexpectedAppendOffsetError);
    const next = (await leader.read(end, 1)).bytes;
    await assert.rejects(follower.append(Buffer.concat([next, later]), { asFollower: true }), /does not follow the batch before it/);
    assert.equal(follower.logEndOffset, end, 'nothing of a refused append is stored');
    // A refused follower append in a group with good ones does not disturb them.
    const [bad, good] = await Promise.allSettled([
      follower.append(Buffer.from(later), { asFollower: true }),
      follower.append(Buffer.from(next), { asFollower: true }),
    ]);
    assert.equal(bad.status, 'rejected');
    assert.equal(good.status === 'fulfilled' && good.value.baseOffset, end);
    while (follower.logEndOffset < leader.logEndOffset) {
      await follower.append(Buffer.from((await leader.read(follower.logEndOffset, 500)).bytes), { asFollower: true });
    }
    assert.deepEqual((await follower.read(0, 1 << 20)).bytes, (await leader.read(0, 1 << 20)).bytes, 'byte for byte, across segments');
    assert.deepEqual(follower.leaderEpochs(), leader.leaderEpochs());
    assert.deepEqual(follower.leaderEpochs(), [{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 15 }]);
    await leader.close();
    await follower.close();
  } finally {
    await cleanup();
  }
});

test('a damaged checkpoint is rebuilt from the batches\' epochs, logged, and rewritten', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    let log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    for (let i = 0; i < 12; i++) await log.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: [0, 0, 2, 2, 2, 5][i % 6] + 10 * Math.floor(i / 6) });
    const want = log.leaderEpochs();
    assert.equal(want.length, 6);
    await log.close();
    const path = join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
    for (const damage of ['0\n6\n0 0\n2 6\n', '', '0\n6\n0 0\n2 6\n5 15\n10 18\n12 24\n1 33\n', 'garbage']) {
      await writeFile(path, damage);
      const events: [string, Record<string, unknown>][] = [];
      log = await DiskPartitionLog.open(dir, 't', 0, CFG, { logger: (e, f) => events.push([e, f]) });
      assert.deepEqual(log.leaderEpochs(), want);
      const rebuilt = events.filter(([e]) => e === 'storage.leader-epoch.rebuilt');
      assert.equal(rebuilt.length, 1, JSON.stringify(damage));
      assert.equal(typeof rebuilt[0][1].reason, 'string');
      assert.deepEqual(parseCheckpoint(await readFile(path, 'utf8')), want, 'rewritten whole');
      await log.close();
    }
  } finally {
    await cleanup();
  }
});

test('retention moves the first epoch entry up to the new log start, in the checkpoint too', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ ...CFG, retentionBytes: 1200 }));
    for (let i = 0; i < 30; i++) await log.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: i < 10 ? 0 : i < 20 ? 1 : 2 });
    assert.ok(await log.enforceRetention() > 0);
    const start = log.logStartOffset;
    assert.ok(start > 30 && start < 60, `start ${start} inside epoch 1`);
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 1, startOffset: start }, { epoch: 2, startOffset: 60 }]);
    assert.deepEqual(parseCheckpoint(await readFile(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8')), log.leaderEpochs());
    await log.close();
  } finally {
    await cleanup();
  }
});

test('power loss: the checkpoint is the old or the new one, never torn, and the cache always matches the stored batches', { timeout: 120_000 }, async () => {
  const DIR = '/d/t-0';
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.constantFrom('strict' as const, 'immediate' as const), async (crashAt, directories) => {
    const disk = new CrashDisk({ directories });
    disk.prepareDir(DIR);
    const log = await DiskPartitionLog.open(DIR, 't', 0, CFG, { fs: disk.mount() });
    await log.append(batchOf(3, 0), { leaderEpoch: 1, durable: true });
    const old = '0\n1\n1 0\n';
    disk.crashAfterOps(crashAt);
    // A new epoch: its checkpoint write (temp file, fsync, rename, directory fsync) comes before the batch.
    const acked = await log.append(batchOf(3, 3), { leaderEpoch: 2, durable: true }).then(() => true, () => false);
    if (disk.crashes === 0) disk.crash();
    const text = (await disk.mount().readFile(join(DIR, LEADER_EPOCH_CHECKPOINT_FILE))).toString();
    assert.ok(text === old || text === '0\n2\n1 0\n2 3\n', `checkpoint after a crash at call ${crashAt}: ${JSON.stringify(text)}`);
    const events: string[] = [];
    const after = await DiskPartitionLog.open(DIR, 't', 0, CFG, { fs: disk.mount(), logger: (e) => events.push(e) });
    assert.ok(!events.includes('storage.leader-epoch.rebuilt'), 'never damaged');
    const batches = await storedBatches(after);
    if (acked) assert.equal(after.logEndOffset, 6);
    assert.deepEqual(after.leaderEpochs(), epochRuns(batches), 'no epoch missing for a stored batch, none past the end');
    await after.close();
  }), { numRuns: 80 });
});
