import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { batchSizeAt } from '../../src/record/index.js';
import { readdir, truncate, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_FILE } from '../../src/storage/partition-log.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

/**
 * For any batch sizes, segment size and index interval: a read at any offset with any byte
 * limit returns whole batches, starting with the one holding the offset, contiguous, never
 * more than the limit except for the first batch, and the records are the ones appended.
 * Checked on the live log and again after a clean reopen.
 */
test('reads at random offsets and byte limits return exactly the appended records', { timeout: 60_000 }, async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }),
    fc.integer({ min: 1, max: 3000 }),
    fc.integer({ min: 0, max: 1500 }),
    fc.integer({ min: 0, max: 40 }),
    fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 4000 })), { minLength: 1, maxLength: 25 }),
    fc.boolean(),
    async (sizes, segmentBytes, indexIntervalBytes, pad, reads, grouped) => {
      const { dir, cleanup } = await tempDir();
      try {
        const cfg = effectiveConfig({ segmentBytes, indexIntervalBytes });
        let log = await DiskPartitionLog.open(dir, 't', 0, cfg);
        let seq = 0;
        const appends: Promise<unknown>[] = [];
        for (const n of sizes) {
          const p = log.append(batchOf(n, seq, 1_700_000_000_000, pad));
          seq += n;
          if (grouped) appends.push(p);
          else await p;
        }
        await Promise.all(appends);
        assert.equal(log.logEndOffset, seq);
        for (const reopen of [false, true]) {
          if (reopen) {
            await log.close();
            log = await DiskPartitionLog.open(dir, 't', 0, cfg);
            assert.equal(log.logEndOffset, seq);
          }
          for (const [frac, maxBytes] of reads) {
            const offset = Math.min(seq - 1, Math.floor(frac * seq));
            const { bytes } = await log.read(offset, maxBytes);
            const first = batchSizeAt(bytes, 0);
            assert.ok(bytes.length === first || bytes.length <= maxBytes, `read ${bytes.length} > ${maxBytes}`);
            const recs = recordsIn(bytes);
            let pos = 0;
            let batches = 0;
            while (pos < bytes.length) { pos += batchSizeAt(bytes, pos); batches++; }
            assert.equal(pos, bytes.length, 'whole batches only');
            assert.ok(batches >= 1);
            assert.ok(recs[0].offset <= offset && recs[recs.length - 1].offset >= offset);
            recs.forEach((r, i) => assert.deepEqual(r, { offset: recs[0].offset + i, value: `v${recs[0].offset + i}` }));
          }
        }
        await log.close();
      } finally {
        await cleanup();
      }
    },
  ), { numRuns: 100 });
});

test('a cut at a random point of the last segment keeps exactly the whole batches before it', { timeout: 60_000 }, async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }),
    fc.integer({ min: 200, max: 3000 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    async (sizes, segmentBytes, frac) => {
      const { dir, cleanup } = await tempDir();
      try {
        const cfg = effectiveConfig({ segmentBytes, indexIntervalBytes: 128 });
        const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
        const ends: number[] = [];
        const lens: number[] = [];
        let seq = 0;
        for (const n of sizes) {
          const b = batchOf(n, seq);
          lens.push(b.length);
          await log.append(b);
          seq += n;
          ends.push(seq);
        }
        await log.close();
        await unlink(join(dir, CLEAN_SHUTDOWN_FILE));
        await unlink(join(dir, RECOVERY_POINT_FILE)).catch(() => {});
        const last = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort().pop()!;
        const base = Number(last.slice(0, 20));
        const size = (await stat(join(dir, last))).size;
        const cut = Math.floor(frac * size);
        await truncate(join(dir, last), cut);
        const again = await DiskPartitionLog.open(dir, 't', 0, cfg);
        // Batches of the last segment, in order, with their end positions.
        let pos = 0;
        let keep = base;
        ends.forEach((e, i) => {
          if (e <= base) return;
          pos += lens[i];
          if (pos <= cut) keep = e;
        });
        assert.equal(again.logEndOffset, keep);
        if (keep > 0) {
          const recs = recordsIn((await again.read(keep - 1, 1)).bytes);
          assert.deepEqual(recs[recs.length - 1], { offset: keep - 1, value: `v${keep - 1}` });
        }
        assert.equal((await again.append(batchOf(1, keep))).baseOffset, keep);
        await again.close();
      } finally {
        await cleanup();
      }
    },
  ), { numRuns: 60 });
});
