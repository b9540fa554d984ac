/**
 * DiskPartitionLog.advanceLogStartOffset (Kafka's DeleteRecords): what a coordinator
 * partition's snapshot and a follower copying its leader rely on: the start moves, reads below
 * it are refused, segments wholly below it are deleted, and the start survives a restart
 * (clean or not) and a later truncateFullyAndStartAt below it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskPartitionLog, CLEAN_SHUTDOWN_FILE } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { OffsetOutOfRangeError } from '../../src/storage/errors.js';
import { SEGMENT_FILE } from '../../src/storage/segment.js';
import { batchOf, batchesIn, tempDir } from './helpers.js';

const CFG = effectiveConfig({ segmentBytes: 1000, indexIntervalBytes: 300, retentionMs: -1 });

async function segmentBases(dir: string): Promise<number[]> {
  return (await readdir(dir)).map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null).map((m) => Number(m![1])).sort((a, b) => a - b);
}

test('advanceLogStartOffset moves the start, refuses reads below it, deletes the segments wholly below it, and survives restarts', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    for (let i = 0; i < 30; i++) await log.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: i < 15 ? 0 : 1 });
    const before = await segmentBases(dir);
    assert.ok(before.length > 3, `several segments (${before.join(', ')})`);
    const target = 61; // inside a batch, inside a segment
    const holding = before.filter((b) => b <= target).at(-1)!;
    assert.equal(await log.advanceLogStartOffset(target), target);
    assert.equal(log.logStartOffset, target);
    assert.deepEqual(await segmentBases(dir), before.filter((b) => b >= holding), 'every segment wholly below the start is gone');
    await assert.rejects(log.read(target - 1, 100), OffsetOutOfRangeError);
    assert.ok(batchesIn((await log.read(target, 100)).bytes)[0].base <= target, 'a read at the start gets the batch holding it');
    assert.ok(log.leaderEpochs()[0].startOffset >= target, 'the epoch cache starts at the log start');
    // Lower or equal: nothing changes. Past the end: out of range.
    assert.equal(await log.advanceLogStartOffset(10), target);
    await assert.rejects(log.advanceLogStartOffset(log.logEndOffset + 1), OffsetOutOfRangeError);
    await log.close();

    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    assert.equal(again.logStartOffset, target, 'after a clean restart');
    await again.append(batchOf(3, 90, undefined, 20));
    // An unclean stop (no clean-shutdown marker): the start still holds.
    await again.flush();
    await again.close();
    await unlink(join(dir, CLEAN_SHUTDOWN_FILE));
    const third = await DiskPartitionLog.open(dir, 't', 0, CFG);
    assert.equal(third.logStartOffset, target, 'after an unclean restart');
    // A follower restarting below the saved start (its leader's log is another one now).
    assert.equal(await third.truncateFullyAndStartAt(5), 5);
    await third.close();
    const fourth = await DiskPartitionLog.open(dir, 't', 0, CFG);
    assert.equal(fourth.logStartOffset, 5);
    await fourth.close();
  } finally {
    await cleanup();
  }
});
