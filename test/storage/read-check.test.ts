/**
 * Damage to a closed segment that a clean reopen does not scan for: reads check what they
 * serve (src/storage/batch-check.ts) and refuse a bad batch with CORRUPT_MESSAGE naming the
 * partition and the offset, instead of serving it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { SluiceError } from '../../src/errors.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import { BASE_OFFSET, BATCH_LENGTH, CRC, LAST_OFFSET_DELTA, RECORDS } from '../../src/record/index.js';
import { batchOf, recordsIn, tempDir, xorByte } from './helpers.js';

const SEG0 = '00000000000000000000';
const SIZES = [2, 3, 4, 1, 2, 3];

type Event = { event: string; fields: Record<string, unknown> };

async function buildClosedLog(dir: string, indexIntervalBytes: number) {
  const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ indexIntervalBytes }));
  const spans: { start: number; first: number; count: number }[] = [];
  let seq = 0;
  let pos = 0;
  for (const n of SIZES) {
    const b = batchOf(n, seq);
    await log.append(b);
    spans.push({ start: pos, first: seq, count: n });
    pos += b.length;
    seq += n;
  }
  await log.close();
  return spans;
}

const DAMAGE: { what: string; field: number; mask: number; reason: RegExp }[] = [
  { what: 'flipped base offset', field: BASE_OFFSET + 7, mask: 0x04, reason: /base offset \d+, expected \d+/ },
  { what: 'flipped CRC byte', field: CRC + 2, mask: 0x5a, reason: /CRC-32C stored 0x[0-9a-f]+, computed 0x[0-9a-f]+/ },
  { what: 'flipped record byte', field: RECORDS + 3, mask: 0x5a, reason: /CRC-32C/ },
  { what: 'bad length (too long)', field: BATCH_LENGTH + 1, mask: 0x40, reason: /runs past the segment end/ },
  { what: 'bad length (negative)', field: BATCH_LENGTH, mask: 0x80, reason: /shorter than the 61-byte header/ },
  { what: 'bad last offset delta', field: LAST_OFFSET_DELTA + 1, mask: 0x10, reason: /last offset delta/ },
];

// Index entries every ~100 bytes: the open after a clean close walks only the tail after the
// last entry, so damage to batch 1 or 3 stays unseen until a read reaches it (batch 1 is
// reached from the segment start, batch 3 from an index entry).
const interval = 100;
for (const k of [1, 3]) {
  for (const d of DAMAGE) {
    test(`a clean reopen after ${d.what} in batch ${k}: the read of that batch is refused, the batches before it are served`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const spans = await buildClosedLog(dir, interval);
        await xorByte(join(dir, `${SEG0}.log`), spans[k].start + d.field, d.mask);
        const events: Event[] = [];
        const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ indexIntervalBytes: interval }), {
          logger: (event, fields) => events.push({ event, fields }),
        });
        try {
          assert.equal(events.length, 0, `a clean reopen does not scan: ${JSON.stringify(events)}`);
          const bad = spans[k].first;
          for (const opts of [{}, { fitOnly: true }, { pool: new ReadBufferPool() }]) {
            await assert.rejects(log.read(bad, 1 << 20, opts), (err: unknown) => {
              assert.ok(err instanceof SluiceError, String(err));
              assert.equal(err.code, 'CORRUPT_MESSAGE');
              assert.equal(err.retriable, false);
              const e = err as SluiceError & Record<string, unknown>;
              assert.deepEqual([e.topic, e.partition, e.offset, e.position], ['t', 0, bad, spans[k].start]);
              assert.match(err.message, new RegExp(`partition t/0 is corrupt at offset ${bad} \\(segment 0, byte ${spans[k].start}\\)`));
              assert.match(err.message, d.reason);
              return true;
            });
          }
          const logged = events.filter((e) => e.event === 'storage.read.corrupt');
          assert.equal(logged.length, 3);
          assert.deepEqual([logged[0].fields.topic, logged[0].fields.partition, logged[0].fields.offset], ['t', 0, bad]);
          // Reading from the start serves every good batch before the damage and stops there.
          const before = recordsIn((await log.read(0, 1 << 20)).bytes);
          assert.deepEqual(before.map((r) => r.offset), Array.from({ length: bad }, (_, i) => i));
        } finally {
          await log.close();
        }
      } finally {
        await cleanup();
      }
    });
  }
}

test('an undamaged log reads back whole after a clean reopen, and again from the CRC-checked prefix', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await buildClosedLog(dir, 100);
    const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ indexIntervalBytes: 100 }));
    const total = SIZES.reduce((a, b) => a + b, 0);
    for (let round = 0; round < 2; round++) {
      for (let at = 0; at < total; at++) {
        const recs = recordsIn((await log.read(at, 1 << 20)).bytes);
        assert.equal(recs[recs.length - 1].offset, total - 1);
        assert.ok(recs[0].offset <= at);
      }
    }
    await log.close();
  } finally {
    await cleanup();
  }
});
