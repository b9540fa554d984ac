/**
 * DiskPartitionLog.truncateFullyAndStartAt: what a follower does when its leader's log start
 * has passed its log end (OFFSET_OUT_OF_RANGE on a replica fetch): every segment and leader
 * epoch goes, and the log restarts empty at the leader's log start, through appends, reads,
 * restarts and a crash at any file-system call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import fc from 'fast-check';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { InvalidAppendError, OffsetOutOfRangeError } from '../../src/storage/errors.js';
import { SEGMENT_FILE } from '../../src/storage/segment.js';
import { BASE_OFFSET, PARTITION_LEADER_EPOCH } from '../../src/record/index.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import { CrashDisk } from './crash-disk.js';
import { batchOf, batchesIn, epochRuns, storedBatches, tempDir } from './helpers.js';

const CFG = effectiveConfig({ segmentBytes: 1000, indexIntervalBytes: 300, retentionMs: -1 });

/** 30 batches of 3 records (offsets 0..89, values v<offset>) over several segments, epochs 0 then 1. */
async function filledLog(dir: string, fs?: FileSystem): Promise<DiskPartitionLog> {
  const log = await DiskPartitionLog.open(dir, 't', 0, CFG, fs ? { fs } : {});
  for (let i = 0; i < 30; i++) await log.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: i < 15 ? 0 : 1 });
  return log;
}

/** A leader's batch as a follower receives it: records v<base>.. at `base`, written in `epoch`. */
function leaderBatch(n: number, base: number, epoch: number): Buffer {
  const b = batchOf(n, base, undefined, 20);
  b.writeBigInt64BE(BigInt(base), BASE_OFFSET);
  b.writeInt32BE(epoch, PARTITION_LEADER_EPOCH);
  return b;
}

const values = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `v${from + i}${'x'.repeat(20)}`);

test('truncateFullyAndStartAt empties the log and restarts it at the offset: no records, no epochs, appends go on from there, across a restart', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await filledLog(dir);
    assert.equal(await log.truncateFullyAndStartAt(500), 500);
    assert.equal(log.logStartOffset, 500);
    assert.equal(log.logEndOffset, 500);
    assert.deepEqual(log.leaderEpochs(), []);
    const bases = (await readdir(dir)).map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null).map((m) => Number(m![1]));
    assert.deepEqual(bases, [500], 'one segment, at the new start');
    await assert.rejects(log.read(0, 100), OffsetOutOfRangeError);
    assert.equal((await log.read(500, 100)).bytes.length, 0);
    // A follower continues with the leader's batches from there.
    await log.append(leaderBatch(3, 500, 4), { asFollower: true });
    await log.append(leaderBatch(2, 503, 5), { asFollower: true });
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 4, startOffset: 500 }, { epoch: 5, startOffset: 503 }]);
    assert.deepEqual((await storedBatches(log)).flatMap((b) => b.values), values(500, 505));
    await log.close();
    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    assert.equal(again.logStartOffset, 500);
    assert.equal(again.logEndOffset, 505);
    assert.deepEqual(again.leaderEpochs(), [{ epoch: 4, startOffset: 500 }, { epoch: 5, startOffset: 503 }]);
    assert.deepEqual(batchesIn((await again.read(503, 1000)).bytes).map((b) => b.base), [503]);
    // Restarting below the old start works too (a leader whose log start is lower is not this case, but the operation does not care).
    assert.equal(await again.truncateFullyAndStartAt(0), 0);
    assert.equal(again.logEndOffset, 0);
    await assert.rejects(again.truncateFullyAndStartAt(-1), InvalidAppendError);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('truncateFullyAndStartAt is ordered with appends: earlier appends are written first and removed, later ones continue from the new start', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await filledLog(dir);
    const early = log.append(batchOf(3, 90, undefined, 20), { leaderEpoch: 1 });
    const restart = log.truncateFullyAndStartAt(200);
    const late = log.append(leaderBatch(3, 200, 2), { asFollower: true });
    assert.equal((await early).baseOffset, 90);
    assert.equal(await restart, 200);
    assert.equal((await late).baseOffset, 200);
    assert.equal(log.logEndOffset, 203);
    assert.deepEqual((await storedBatches(log)).flatMap((b) => b.values), values(200, 203));
    await log.close();
  } finally {
    await cleanup();
  }
});

test('a crash at any file-system call of truncateFullyAndStartAt leaves a prefix of the old log or the new empty one, with matching epochs', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 60 }), async (crashAt) => {
    const disk = new CrashDisk();
    disk.prepareDir('/d/t-0');
    const log = await filledLog('/d/t-0', disk.mount());
    await log.flush();
    disk.crashAfterOps(crashAt);
    const done = await log.truncateFullyAndStartAt(300).then(() => true, () => false);
    if (disk.crashes === 0) disk.crash();
    const after = await DiskPartitionLog.open('/d/t-0', 't', 0, CFG, { fs: disk.mount() });
    const start = after.logStartOffset;
    const end = after.logEndOffset;
    if (done || start === 300) {
      assert.equal(start, 300, `resolved ${done}`);
      assert.equal(end, 300);
      assert.deepEqual(after.leaderEpochs(), []);
    } else {
      assert.equal(start, 0, `old log start kept (end ${end})`);
      const batches = await storedBatches(after);
      assert.deepEqual(batches.flatMap((b) => b.values), values(0, end));
      assert.deepEqual(after.leaderEpochs(), epochRuns(batches));
    }
    await after.close();
  }), { numRuns: 60 });
});
