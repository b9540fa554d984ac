import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BASE_OFFSET } from '../../src/record/index.js';
import { openLogManager } from '../../src/storage/log-manager.js';
import { CorruptLogError } from '../../src/storage/errors.js';
import type { LogConfig } from '../../src/storage/types.js';
import { recordsOf, type BadBatch } from '../../src/state-log/replay.js';
import { batchOf, batchStarts, tempDir, xorByte } from '../storage/helpers.js';

const SEG0 = '00000000000000000000.log';

/** Four batches of three records (offsets 0..11) in a one-partition topic, closed cleanly, then `damage` applied to its segment file. */
async function damagedLog(t: { after: (fn: () => Promise<void>) => void }, config: Partial<LogConfig>, damage: (file: string, starts: number[]) => Promise<void>) {
  const { dir, cleanup } = await tempDir();
  let mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  await mgr.createTopic('__state-0', 1, config);
  for (let i = 0; i < 4; i++) await mgr.log('__state-0', 0)!.append(batchOf(3, i * 3), { durable: true });
  await mgr.close(); // clean: the next open does not scan the segment again
  const file = join(dir, '__state-0-0', SEG0);
  const starts = await batchStarts(file);
  await damage(file, starts);
  mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  t.after(async () => {
    await mgr.close();
    await cleanup();
  });
  return { log: mgr.log('__state-0', 0)!, starts };
}

async function replayAll(log: Parameters<typeof recordsOf>[0]): Promise<{ values: string[]; bad: BadBatch[] }> {
  const values: string[] = [];
  const bad: BadBatch[] = [];
  for await (const batch of recordsOf(log, (b) => { bad.push(b); })) for (const r of batch) values.push(`${r.offset}:${r.value}`);
  return { values, bad };
}

test('a batch whose CRC fails on disk is handed over whole and replay carries on from the next batch', async (t) => {
  const { log, starts } = await damagedLog(t, {}, (file, starts) => xorByte(file, starts[2] - 3, 0x10)); // inside batch 1's last record
  await assert.rejects(async () => {
    for await (const _ of recordsOf(log)) { /* without a handler the damage is thrown */ }
  }, CorruptLogError);
  const { values, bad } = await replayAll(log);
  assert.deepEqual(values, ['0:v0', '1:v1', '2:v2', '6:v6', '7:v7', '8:v8', '9:v9', '10:v10', '11:v11']);
  assert.equal(bad.length, 1);
  assert.deepEqual([bad[0].offset, bad[0].nextOffset], [3, 6]);
  assert.equal(bad[0].bytes.length, starts[2] - starts[1], 'the stored batch, whole');
  assert.equal(bad[0].timestamp, 1_700_000_000_003, 'its first record\'s');
  assert.match(bad[0].error.message, /offset 3 .*CRC/);
});

test('a batch whose header is damaged is stepped over up to the next readable offset; its header is kept', async (t) => {
  // An index entry per batch: the read of the batch after the damage starts at its own entry.
  const { log } = await damagedLog(t, { indexIntervalBytes: 1 }, (file, starts) => xorByte(file, starts[1] + BASE_OFFSET + 7, 0x40));
  const { values, bad } = await replayAll(log);
  assert.deepEqual(values, ['0:v0', '1:v1', '2:v2', '6:v6', '7:v7', '8:v8', '9:v9', '10:v10', '11:v11']);
  assert.deepEqual(bad.map((b) => [b.offset, b.nextOffset, b.bytes.length]), [[3, 6, 61]]);
  assert.match(bad[0].error.message, /base offset/);
});

test('two damaged batches in a row are each reported once', async (t) => {
  const { log } = await damagedLog(t, {}, async (file, starts) => {
    await xorByte(file, starts[2] - 3, 0x01);
    await xorByte(file, starts[3] - 3, 0x01);
  });
  const { values, bad } = await replayAll(log);
  assert.deepEqual(values, ['0:v0', '1:v1', '2:v2', '9:v9', '10:v10', '11:v11']);
  assert.deepEqual(bad.map((b) => [b.offset, b.nextOffset]), [[3, 6], [6, 9]]);
});
