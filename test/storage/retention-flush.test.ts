import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { openLogManager } from '../../src/storage/log-manager.js';
import { OffsetOutOfRangeError } from '../../src/storage/errors.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

const T0 = 1_700_000_000_000;

test('retention by time deletes whole old segments, never the active one, and moves logStartOffset', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ segmentBytes: 250, retentionMs: 1000 }));
    // Two records per batch, timestamps T0 + offset; about two batches per segment.
    for (let i = 0; i < 10; i++) await log.append(batchOf(2, i * 2, T0));
    const segs = log.stats().segmentCount;
    assert.ok(segs >= 4);
    assert.equal(await log.enforceRetention(T0 + 500), 0);
    // Everything with maxTimestamp < T0 + 8 is past retention at T0 + 1008.
    const deleted = await log.enforceRetention(T0 + 1008);
    assert.ok(deleted >= 1);
    const start = log.logStartOffset;
    assert.ok(start > 0 && start <= 8, `start ${start}`);
    await assert.rejects(log.read(start - 1, 100), OffsetOutOfRangeError);
    assert.equal(recordsIn((await log.read(start, 100)).bytes)[0].offset, start);
    // Far in the future everything but the active segment goes.
    await log.enforceRetention(T0 + 10_000_000);
    assert.equal(log.stats().segmentCount, 1);
    assert.equal((await readdir(dir)).filter((f) => f.endsWith('.log')).length, 1);
    assert.equal(log.logEndOffset, 20);
    assert.equal((await log.append(batchOf(1, 20, T0))).baseOffset, 20);
    await log.close();
    const again = await DiskPartitionLog.open(dir, 't', 0, log.config);
    assert.equal(again.logStartOffset, log.logStartOffset);
    assert.equal(again.logEndOffset, 21);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('retention by size keeps the log under retentionBytes plus the active segment', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ segmentBytes: 400, retentionBytes: 1000, retentionMs: -1 }));
    for (let i = 0; i < 30; i++) await log.append(batchOf(2, i * 2, T0));
    const before = log.stats();
    const deleted = await log.enforceRetention(T0 + 10 ** 12);
    const after = log.stats();
    assert.equal(after.segmentCount, before.segmentCount - deleted);
    assert.ok(after.sizeBytes >= 1000 && after.sizeBytes < 1400, `size ${after.sizeBytes}`);
    assert.equal(await log.enforceRetention(), 0);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('the log manager runs retention on its timer', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mgr = await openLogManager(dir, { retentionMs: 1000, segmentBytes: 200 }, { retentionCheckMs: 20 });
    await mgr.createTopic('old', 1);
    const log = mgr.log('old', 0)!;
    // Timestamps long past; the timer may already delete while this loop runs.
    for (let i = 0; i < 6; i++) await log.append(batchOf(2, i * 2, T0));
    for (let i = 0; i < 100 && log.stats().segmentCount > 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(log.stats().segmentCount, 1);
    assert.ok(log.logStartOffset > 0);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('group commit: many concurrent durable appends share few fsyncs and all are acknowledged', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ flushMs: -1 }));
    const N = 200;
    const batches = Array.from({ length: N }, (_, i) => batchOf(5, i * 5));
    // Two waves: all of the first at once, then the second while the first fsync may be running.
    const first = batches.slice(0, N / 2).map((b) => log.append(b, { durable: true }));
    await new Promise((r) => setImmediate(r));
    const second = batches.slice(N / 2).map((b) => log.append(b, { durable: true }));
    const results = await Promise.all([...first, ...second]);
    results.forEach((r, i) => assert.equal(r.baseOffset, i * 5));
    const fsyncs = log.stats().fsyncCount!;
    assert.ok(fsyncs >= 1 && fsyncs <= 6, `fsyncs ${fsyncs} for ${N} durable appends`);
    // Non-durable appends do not fsync by themselves when flushMs/flushMessages are off.
    await log.append(batchOf(1, N * 5));
    assert.equal(log.stats().fsyncCount, fsyncs);
    await log.flush();
    assert.equal(log.stats().fsyncCount, fsyncs + 1);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('flushMessages and flushMs trigger background fsyncs', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ flushMessages: 10, flushMs: -1 }));
    await log.append(batchOf(4, 0));
    await log.append(batchOf(4, 4));
    assert.equal(log.stats().fsyncCount, 0);
    await log.append(batchOf(4, 8));
    for (let i = 0; i < 50 && log.stats().fsyncCount === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(log.stats().fsyncCount, 1);
    await log.close();

    const timed = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ flushMs: 20 }));
    await timed.append(batchOf(1, 12));
    assert.equal(timed.stats().fsyncCount, 0);
    for (let i = 0; i < 100 && timed.stats().fsyncCount === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(timed.stats().fsyncCount, 1);
    await timed.close();
  } finally {
    await cleanup();
  }
});

test('offsetForTimestamp finds the first record whose timestamp reaches ts, inside its batch, across segments', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ segmentBytes: 600, indexIntervalBytes: 100 }));
    for (let i = 0; i < 40; i++) await log.append(batchOf(3, i * 3, T0));
    assert.ok(log.stats().segmentCount > 3);
    // batchOf stamps record j of a batch starting at seq with T0 + seq + j, so batch i has max T0 + 3i + 2.
    for (const [ts, want] of [[0, 0], [T0, 0], [T0 + 1, 1], [T0 + 2, 2], [T0 + 3, 3], [T0 + 50, 50], [T0 + 119, 119], [T0 + 120, null]] as const) {
      assert.equal(await log.offsetForTimestamp(ts), want, `ts ${ts}`);
    }
    await log.close();
    const again = await DiskPartitionLog.open(dir, 't', 0, log.config);
    assert.equal(await again.offsetForTimestamp(T0 + 50), 50);
    assert.equal(await again.offsetForTimestamp(T0 + 119), 119);
    await again.close();
  } finally {
    await cleanup();
  }
});
