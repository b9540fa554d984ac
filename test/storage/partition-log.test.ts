import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { OffsetOutOfRangeError, StorageError } from '../../src/storage/errors.js';
import { CorruptBatchError } from '../../src/errors.js';
import { CRC } from '../../src/record/index.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

test('append assigns consecutive offsets and read returns the same records', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig());
    const a = await log.append(batchOf(3, 0));
    assert.deepEqual(a, { baseOffset: 0, lastOffset: 2, logEndOffset: 3 });
    const b = await log.append(Buffer.concat([batchOf(2, 3), batchOf(4, 5)]));
    assert.deepEqual(b, { baseOffset: 3, lastOffset: 8, logEndOffset: 9 });
    const { bytes, logStartOffset, logEndOffset } = await log.read(0, 1 << 20);
    assert.equal(logStartOffset, 0);
    assert.equal(logEndOffset, 9);
    assert.deepEqual(recordsIn(bytes).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(recordsIn(bytes).map((r) => r.value), [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => `v${i}`));
    // A read inside a batch starts with that batch.
    assert.equal(recordsIn((await log.read(6, 1)).bytes)[0].offset, 5);
    assert.equal((await log.read(9, 100)).bytes.length, 0);
    await assert.rejects(log.read(10, 100), OffsetOutOfRangeError);
    await assert.rejects(log.read(-1, 100), OffsetOutOfRangeError);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('a corrupt batch anywhere in the buffer is refused and nothing is stored', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig());
    await log.append(batchOf(1, 0));
    const bad = batchOf(2, 1);
    bad[CRC] ^= 0xff;
    await assert.rejects(log.append(Buffer.concat([batchOf(1, 1), bad])), CorruptBatchError);
    await assert.rejects(log.append(Buffer.alloc(0)), CorruptBatchError);
    await assert.rejects(log.append(batchOf(3, 1).subarray(0, 40)), CorruptBatchError);
    assert.equal(log.logEndOffset, 1);
    assert.deepEqual((await log.append(batchOf(1, 1))).baseOffset, 1);
    assert.equal(recordsIn((await log.read(0, 1 << 20)).bytes).length, 2);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('round trip across rolled segments survives close and reopen', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfg = effectiveConfig({ segmentBytes: 2000, indexIntervalBytes: 300 });
    let log = await DiskPartitionLog.open(dir, 't', 0, cfg);
    let seq = 0;
    const pending = [];
    for (let i = 0; i < 60; i++) {
      const n = 1 + (i % 7);
      pending.push(log.append(batchOf(n, seq)));
      seq += n;
    }
    await Promise.all(pending);
    assert.ok(log.stats().segmentCount > 3, `segments: ${log.stats().segmentCount}`);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    assert.ok(files.every((f) => /^\d{20}\.log$/.test(f)));
    const check = async (l: DiskPartitionLog) => {
      for (let off = 0; off < seq; off++) {
        const got: { offset: number; value: string }[] = [];
        let at = off;
        while (at < seq) {
          const r = recordsIn((await l.read(at, 500)).bytes);
          got.push(...r.filter((x) => x.offset >= at));
          at = r[r.length - 1].offset + 1;
        }
        const skip = got.filter((x) => x.offset >= off);
        assert.equal(skip.length, seq - off);
        skip.forEach((x, i) => assert.deepEqual(x, { offset: off + i, value: `v${off + i}` }));
      }
    };
    await check(log);
    await log.close();
    log = await DiskPartitionLog.open(dir, 't', 0, cfg);
    assert.equal(log.logEndOffset, seq);
    await check(log);
    assert.equal((await log.append(batchOf(1, seq))).baseOffset, seq);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('odd byte limits return the first batch; a closed log refuses appends and reads with StorageError', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig());
    await log.append(batchOf(2, 0));
    await log.append(batchOf(2, 2));
    for (const limit of [0, -5, NaN, 1]) assert.deepEqual(recordsIn((await log.read(0, limit)).bytes).map((r) => r.offset), [0, 1]);
    assert.equal(recordsIn((await log.read(0, Infinity)).bytes).length, 4);
    await assert.rejects(log.read(1.5, 100), OffsetOutOfRangeError);
    await log.close();
    await assert.rejects(log.append(batchOf(1, 4)), StorageError);
    await assert.rejects(log.read(0, 100), StorageError);
  } finally {
    await cleanup();
  }
});
