/**
 * The storage pieces the leader side of replication uses: a read bounded below an offset
 * (ReadOptions.maxOffset, a consumer below the high watermark: whole stored batches only) and
 * assignLeaderEpoch (a new leader's epoch recorded at the log end, durably, in append order).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { InvalidAppendError, OffsetOutOfRangeError } from '../../src/storage/errors.js';
import { LEADER_EPOCH_CHECKPOINT_FILE } from '../../src/storage/leader-epoch-checkpoint.js';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

const CFG = effectiveConfig({ segmentBytes: 1000, indexIntervalBytes: 300, retentionMs: -1 });

test('maxOffset: only whole stored batches below it, across segments; at or past it nothing', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    for (let i = 0; i < 20; i++) await log.append(batchOf(3, i * 3)); // batches [0-2], [3-5], ...
    const pool = new ReadBufferPool();
    const offsets = async (from: number, maxOffset: number) => recordsIn((await log.read(from, 1 << 20, { pool, maxOffset })).bytes).map((r) => r.offset);
    assert.deepEqual(await offsets(0, 6), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(await offsets(0, 5), [0, 1, 2], 'the batch holding 5 (3-5) straddles the bound: left out whole');
    assert.deepEqual(await offsets(4, 9), [3, 4, 5, 6, 7, 8], 'from the batch holding the offset, as an unbounded read');
    assert.deepEqual(await offsets(9, 9), []);
    assert.deepEqual(await offsets(10, 9), []);
    assert.deepEqual(await offsets(4, 5), [], 'the only candidate straddles the bound');
    assert.deepEqual(await offsets(0, 60), recordsIn((await log.read(0, 1 << 20)).bytes).map((r) => r.offset), 'a bound at the log end is no bound');
    const whole = (await log.read(30, 1 << 20, { maxOffset: 45 })).bytes;
    const unbounded = (await log.read(30, 1 << 20)).bytes;
    assert.ok(unbounded.subarray(0, whole.length).equals(whole), 'the stored bytes, cut at a batch boundary');
    await assert.rejects(log.read(61, 100, { maxOffset: 70 }), OffsetOutOfRangeError, 'past the log end is still out of range');
    await log.close();
  } finally {
    await cleanup();
  }
});

test('assignLeaderEpoch records the epoch at the log end, after queued appends, in the checkpoint', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await log.assignLeaderEpoch(0);
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }]);
    assert.deepEqual(log.endOffsetForEpoch(0), { epoch: 0, endOffset: 0 });
    const appended = log.append(batchOf(2, 0), { leaderEpoch: 0 });
    await log.assignLeaderEpoch(3); // queued behind the append: epoch 3 starts at 2
    await appended;
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }, { epoch: 3, startOffset: 2 }]);
    assert.deepEqual(log.endOffsetForEpoch(0), { epoch: 0, endOffset: 2 }, 'a follower of epoch 0 keeps offsets below 2');
    assert.equal(await readFile(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8'), '0\n2\n0 0\n3 2\n');
    await log.assignLeaderEpoch(3);
    assert.equal(log.leaderEpochs().length, 2, 'the same epoch again changes nothing');
    await assert.rejects(log.assignLeaderEpoch(-1), InvalidAppendError);
    await log.close();
  } finally {
    await cleanup();
  }
});
