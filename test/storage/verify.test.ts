/** verify.ts: every CRC and offset checked, every problem reported with its place, nothing written. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { verifyPartitionDir } from '../../src/storage/verify.js';
import { BASE_OFFSET, BATCH_LENGTH, CRC } from '../../src/record/index.js';
import { batchOf, batchStarts, tempDir, xorByte } from './helpers.js';

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const f of (await readdir(dir)).sort()) out.set(f, await readFile(join(dir, f)));
  return out;
}

test('verify reports every damaged batch with segment, byte and offset, walks past CRC and offset damage, and writes nothing', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfg = effectiveConfig({ segmentBytes: 600 });
    const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
    for (let i = 0; i < 15; i++) await log.append(batchOf(3, i * 3));
    await log.close();
    const segs = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
    assert.ok(segs.length >= 3);
    const good = await verifyPartitionDir(dir);
    assert.deepEqual([good.problemCount, good.records, good.batches, good.segments], [0, 45, 15, segs.length]);

    const s0 = join(dir, segs[0]);
    const s1 = join(dir, segs[1]);
    const last = join(dir, segs[segs.length - 1]);
    const b0 = await batchStarts(s0);
    const b1 = await batchStarts(s1);
    const bl = await batchStarts(last);
    await xorByte(s0, b0[1] + CRC + 1, 0x20); //          CRC of batch 1 (offset 3)
    await xorByte(s1, b1[0] + BASE_OFFSET + 7, 0x40); // base offset of segment 1's first batch
    await xorByte(last, bl[0] + BATCH_LENGTH, 0x80); //  negative length: the rest of that segment cannot be walked
    const before = await snapshot(dir);
    const bad = await verifyPartitionDir(dir);
    assert.deepEqual(await snapshot(dir), before, 'verify wrote nothing');
    const base1 = Number(segs[1].slice(0, 20));
    const baseL = Number(segs[segs.length - 1].slice(0, 20));
    assert.equal(bad.problemCount, 3, JSON.stringify(bad.problems));
    assert.deepEqual(bad.problems.map((p) => [p.segment, p.position, p.offset]), [[0, b0[1], 3], [base1, 0, base1], [baseL, 0, baseL]]);
    assert.match(bad.problems[0].reason, /CRC-32C stored 0x[0-9a-f]+, computed 0x[0-9a-f]+/);
    assert.match(bad.problems[1].reason, /base offset \d+, expected \d+/);
    assert.match(bad.problems[2].reason, /cannot be walked/);

    // The open log's verify (what the broker runs) finds the same. (Header damage is undone
    // first: a clean open walks segments without index entries and would cut at it.)
    await xorByte(s1, b1[0] + BASE_OFFSET + 7, 0x40);
    await xorByte(last, bl[0] + BATCH_LENGTH, 0x80);
    const again = await DiskPartitionLog.open(dir, 't', 0, cfg);
    try {
      const live = await again.verify();
      assert.deepEqual(live.problems, bad.problems.slice(0, 1));
      assert.equal(live.records, 45);
    } finally {
      await again.close();
    }
  } finally {
    await cleanup();
  }
});
