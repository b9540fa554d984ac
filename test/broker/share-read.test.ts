// readAcquired: the bytes a ShareAcquire answer carries for an acquired range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLogManager } from '../../src/storage/log-manager.js';
import { decodeBatches, encodeBatch } from '../../src/record/index.js';
import { readAcquired } from '../../src/broker/share-read.js';
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
