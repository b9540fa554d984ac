// readCovering: the bytes a ShareAcquire answer carries for an acquired range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLogManager } from '../../src/storage/log-manager.js';
import { decodeBatches, encodeBatch } from '../../src/record/index.js';
import { readCovering } from '../../src/broker/share-read.js';

test('readCovering returns whole batches from the one holding firstOffset through the one holding lastOffset, no further', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'share-read-'));
  const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  try {
    await mgr.createTopic('t', 1);
    const log = mgr.log('t', 0)!;
    // 10 batches of 10 records: offsets 0..99.
    for (let b = 0; b < 10; b++) await log.append(encodeBatch(Array.from({ length: 10 }, (_, i) => ({ value: `v${b * 10 + i}` }))));
    const offsets = async (first: number, last: number) => [...decodeBatches(await readCovering(log, first, last))].flatMap((x) => x.records.map((r) => r.offset));
    const r1 = await offsets(15, 34);
    assert.equal(r1[0], 10);
    assert.equal(r1[r1.length - 1], 39);
    assert.deepEqual(await offsets(99, 99), Array.from({ length: 10 }, (_, i) => 90 + i));
    const all = await offsets(0, 99);
    assert.equal(all.length, 100);
    assert.equal((await readCovering(log, 100, 120)).length, 0, 'past the end: nothing');
  } finally {
    await mgr.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
