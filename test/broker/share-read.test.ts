// readAcquired: the bytes a ShareAcquire answer carries for an acquired range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLogManager } from '../../src/storage/log-manager.js';
import { decodeBatches, encodeBatch } from '../../src/record/index.js';
import { readAcquired, ShareReadCache } from '../../src/broker/share-read.js';
import type { PartitionLog } from '../../src/storage/types.js';

/** A fresh one-partition topic 't' on disk for `fn`, removed afterwards. */
async function withLog(fn: (log: PartitionLog) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'share-read-'));
  const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  try {
    await mgr.createTopic('t', 1);
    await fn(mgr.log('t', 0)!);
  } finally {
    await mgr.close();
    rmSync(dir, { recursive: true, force: true });
  }
}


test('readAcquired answers only the acquired records, across batch boundaries and between ranges', async () => {
  await withLog(async (log) => {
    // 10 batches of 10 records of 100 bytes: offsets 0..99.
    for (let b = 0; b < 10; b++) await log.append(encodeBatch(Array.from({ length: 10 }, (_, i) => ({ value: `v${b * 10 + i}`.padEnd(100, '.') }))));
    const ranges = [{ firstOffset: 3, lastOffset: 3 }, { firstOffset: 47, lastOffset: 52 }, { firstOffset: 99, lastOffset: 99 }];
    const bytes = await readAcquired(log, ranges);
    const got = [...decodeBatches(bytes)].flatMap((x) => x.records.map((r) => [r.offset, r.value!.toString().replace(/\.+$/, '')]));
    assert.deepEqual(got, [[3, 'v3'], [47, 'v47'], [48, 'v48'], [49, 'v49'], [50, 'v50'], [51, 'v51'], [52, 'v52'], [99, 'v99']]);
    assert.ok(bytes.length < 8 * 100 + 4 * 61 + 8 * 20, `${bytes.length} bytes for 8 records of 100 bytes`);
    assert.equal((await readAcquired(log, [{ firstOffset: 100, lastOffset: 120 }])).length, 0, 'past the end: nothing');
  });
});

test('readAcquired reads about what it answers: reads sized to the range, batches between ranges not read', async (t) => {
  await withLog(async (log) => {
    // 20 batches of 100 records of 100 bytes (~11 KB each): offsets 0..1999, ~230 KB.
    for (let b = 0; b < 20; b++) await log.append(encodeBatch(Array.from({ length: 100 }, (_, i) => ({ value: `v${b * 100 + i}`.padEnd(100, '.') }))));
    const read = t.mock.method(log, 'read');
    const readBytes = async (ranges: { firstOffset: number; lastOffset: number }[]) => {
      read.mock.resetCalls();
      const out = await readAcquired(log, ranges);
      const asked = read.mock.calls.reduce((n, c) => n + (c.arguments[1] as number), 0);
      const got = (await Promise.all(read.mock.calls.map((c) => c.result!))).reduce((n, r) => n + r.bytes.length, 0);
      return { offsets: [...decodeBatches(out)].flatMap((x) => x.records.map((r) => r.offset)), asked, got };
    };
    // 31 records inside one batch: that batch is read, not the megabyte after it.
    const one = await readBytes([{ firstOffset: 140, lastOffset: 170 }]);
    assert.deepEqual(one.offsets, Array.from({ length: 31 }, (_, i) => 140 + i));
    assert.ok(one.got <= 12_000 && one.asked <= 12_000, `read ${one.got} bytes (asked ${one.asked}) for 31 records of one 11 KB batch`);
    // A redelivered record far behind the rest: the 17 batches between are not read.
    const two = await readBytes([{ firstOffset: 5, lastOffset: 5 }, { firstOffset: 1900, lastOffset: 1929 }]);
    assert.deepEqual(two.offsets, [5, ...Array.from({ length: 30 }, (_, i) => 1900 + i)]);
    assert.ok(two.got <= 3 * 12_000, `read ${two.got} bytes for records of 2 batches`);
    // A range over many batches is read whole, in as few reads as its size needs.
    const many = await readBytes([{ firstOffset: 0, lastOffset: 1999 }]);
    assert.equal(many.offsets.length, 2000);
    assert.ok(read.mock.callCount() <= 3, `${read.mock.callCount()} reads for 230 KB`);
  });
});

test('ShareReadCache: the next acquisition of a batch already read is answered from memory; a truncation is never answered from it', async (t) => {
  await withLog(async (log) => {
    // 2 batches of 100 records of 100 bytes (~11 KB each): offsets 0..199.
    for (let b = 0; b < 2; b++) await log.append(encodeBatch(Array.from({ length: 100 }, (_, i) => ({ value: `v${b * 100 + i}`.padEnd(100, '.') }))));
    const cache = new ShareReadCache();
    const read = t.mock.method(log, 'read');
    const values = async (ranges: { firstOffset: number; lastOffset: number }[]) =>
      [...decodeBatches(await readAcquired(log, ranges, cache))].flatMap((x) => x.records.map((r) => `${r.offset}:${r.value!.toString().replace(/\.+$/, '')}`));
    const expect = (from: number, to: number, v = (o: number) => `v${o}`) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}:${v(from + i)}`);

    assert.deepEqual(await values([{ firstOffset: 0, lastOffset: 31 }]), expect(0, 31));
    assert.equal(read.mock.callCount(), 1);
    // The acquisitions after it take the rest of the same stored batch: no storage read.
    assert.deepEqual(await values([{ firstOffset: 32, lastOffset: 63 }]), expect(32, 63));
    assert.deepEqual(await values([{ firstOffset: 40, lastOffset: 40 }, { firstOffset: 64, lastOffset: 95 }]), ['40:v40', ...expect(64, 95)]);
    assert.equal(read.mock.callCount(), 1, 'records of a batch already read are answered from memory');
    // Past the cached batch: read, and that batch is kept instead.
    assert.deepEqual(await values([{ firstOffset: 96, lastOffset: 130 }]), expect(96, 130));
    assert.equal(read.mock.callCount(), 2);
    assert.deepEqual(await values([{ firstOffset: 131, lastOffset: 140 }]), expect(131, 140));
    assert.equal(read.mock.callCount(), 2);

    // A truncation (a follower's, by leader epoch) and new records of a newer epoch at the same
    // offsets: the new records, not the cached ones.
    await log.truncateTo(100); // the second batch, cached, is gone
    await log.assignLeaderEpoch(1);
    await log.append(encodeBatch(Array.from({ length: 50 }, (_, i) => ({ value: `new${100 + i}` }))), { leaderEpoch: 1 });
    assert.deepEqual(await values([{ firstOffset: 100, lastOffset: 110 }]), expect(100, 110, (o) => `new${o}`));
    // A log start moved into the cached batch: the answer the log itself gives.
    assert.deepEqual(await values([{ firstOffset: 120, lastOffset: 121 }]), expect(120, 121, (o) => `new${o}`));
    await log.advanceLogStartOffset(130);
    const fromLog = [...decodeBatches(await readAcquired(log, [{ firstOffset: 120, lastOffset: 135 }]))].flatMap((x) => x.records.map((r) => r.offset));
    assert.deepEqual((await values([{ firstOffset: 120, lastOffset: 135 }])).map((v) => Number(v.split(':')[0])), fromLog);
    assert.ok(cache.size > 0 && cache.size < 30_000, `${cache.size} bytes kept`);
  });
});

test('ShareReadCache keeps at most its budget, dropping the least recently used partition first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'share-read-'));
  const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  try {
    await mgr.createTopic('t', 3);
    const logs = [0, 1, 2].map((p) => mgr.log('t', p)!);
    for (const log of logs) await log.append(encodeBatch(Array.from({ length: 100 }, () => ({ value: Buffer.alloc(100) }))));
    const cache = new ShareReadCache(25_000); // two ~11 KB batches
    for (const log of logs.slice(0, 2)) await readAcquired(log, [{ firstOffset: 0, lastOffset: 0 }], cache);
    assert.ok(cache.get(logs[0], 1), 'partition 0 kept (and now the most recently used)');
    await readAcquired(logs[2], [{ firstOffset: 0, lastOffset: 0 }], cache);
    assert.ok(cache.size <= 25_000, `${cache.size} bytes kept`);
    assert.equal(cache.get(logs[1], 1), undefined, 'the least recently used one was dropped');
    assert.ok(cache.get(logs[0], 1) && cache.get(logs[2], 1));
  } finally {
    await mgr.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ShareReadCache: acquisitions that reach a new stored batch together read it once', async (t) => {
  await withLog(async (log) => {
    // One stored batch of 200 records of 100 bytes (~21 KB): offsets 0..199.
    await log.append(encodeBatch(Array.from({ length: 200 }, (_, i) => ({ value: `v${i}`.padEnd(100, '.') }))));
    const cache = new ShareReadCache();
    const read = t.mock.method(log, 'read');
    const offsets = async (p: Promise<Buffer>) => [...decodeBatches(await p)].flatMap((x) => x.records.map((r) => r.offset));
    // Three workers' acquisitions of the same I/O phase, none answered from memory yet.
    const answers = await Promise.all([
      offsets(readAcquired(log, [{ firstOffset: 0, lastOffset: 63 }], cache)),
      offsets(readAcquired(log, [{ firstOffset: 64, lastOffset: 127 }], cache)),
      offsets(readAcquired(log, [{ firstOffset: 128, lastOffset: 191 }], cache)),
    ]);
    assert.deepEqual(answers.map((a) => [a[0], a[a.length - 1], a.length]), [[0, 63, 64], [64, 127, 64], [128, 191, 64]]);
    assert.equal(read.mock.callCount(), 1, 'the batch is read from the segment once, not once per acquisition');
  });
});
