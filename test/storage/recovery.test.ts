import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, open, readFile, readdir, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskPartitionLog, CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_FILE } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { BASE_OFFSET, BATCH_LENGTH, CRC, RECORDS } from '../../src/record/index.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

const SEG0 = '00000000000000000000';

type Event = { event: string; fields: Record<string, unknown> };
function recorder() {
  const events: Event[] = [];
  return { events, logger: (event: string, fields: Record<string, unknown>) => events.push({ event, fields }) };
}

/** Writes `sizes` batches into one segment, closes cleanly, returns each batch's [start, end) and first offset. */
async function buildLog(dir: string, sizes: number[], cfg = effectiveConfig({ indexIntervalBytes: 100 })) {
  const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
  const spans: { start: number; end: number; first: number; count: number }[] = [];
  let seq = 0;
  let pos = 0;
  for (const n of sizes) {
    const b = batchOf(n, seq);
    await log.append(b);
    spans.push({ start: pos, end: pos + b.length, first: seq, count: n });
    pos += b.length;
    seq += n;
  }
  await log.close();
  return { spans, total: seq };
}

/** Makes the next open treat the log as crashed with nothing known flushed. */
async function forgetCleanShutdown(dir: string): Promise<void> {
  await unlink(join(dir, CLEAN_SHUTDOWN_FILE));
  await unlink(join(dir, RECOVERY_POINT_FILE)).catch(() => {});
}

async function expectRecords(log: DiskPartitionLog, count: number): Promise<void> {
  assert.equal(log.logEndOffset, count);
  if (count === 0) return;
  const got = [];
  let at = 0;
  while (at < count) {
    const r = recordsIn((await log.read(at, 1 << 20)).bytes);
    got.push(...r);
    at = r[r.length - 1].offset + 1;
  }
  assert.deepEqual(got, Array.from({ length: count }, (_, i) => ({ offset: i, value: `v${i}` })));
}

test('a segment cut at any point keeps every whole batch before the cut and appends continue', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'src');
    const { spans } = await buildLog(src, [3, 1, 5, 2, 4]);
    await forgetCleanShutdown(src);
    const cuts = new Set<number>();
    for (const s of spans) for (const d of [0, 1, 8, 11, 12, 30, RECORDS - 1, RECORDS, RECORDS + 3, s.end - s.start - 1]) cuts.add(s.start + d);
    cuts.add(spans[spans.length - 1].end);
    let n = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const work = join(dir, `cut-${n++}`);
      await cp(src, work, { recursive: true });
      await truncate(join(work, `${SEG0}.log`), cut);
      const rec = recorder();
      const log = await DiskPartitionLog.open(work, 't', 0, effectiveConfig({ indexIntervalBytes: 100 }), { logger: rec.logger });
      const whole = spans.filter((s) => s.end <= cut);
      const keep = whole.reduce((k, s) => k + s.count, 0);
      const keptBytes = whole.length ? whole[whole.length - 1].end : 0;
      await expectRecords(log, keep);
      assert.equal((await stat(join(work, `${SEG0}.log`))).size, keptBytes);
      const trunc = rec.events.filter((e) => e.event === 'storage.recovery.truncated');
      if (cut === keptBytes) assert.equal(trunc.length, 0, `cut ${cut}`);
      else assert.deepEqual([trunc[0].fields.droppedBytes, trunc[0].fields.offset], [cut - keptBytes, keep], `cut ${cut}`);
      assert.equal((await log.append(batchOf(2, keep))).baseOffset, keep);
      await expectRecords(log, keep + 2);
      await log.close();
      await rm(work, { recursive: true });
    }
  } finally {
    await cleanup();
  }
});

test('flipped bytes (CRC-covered, offset, length) drop that batch and everything after it', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'src');
    const { spans } = await buildLog(src, [2, 3, 4, 1]);
    await forgetCleanShutdown(src);
    let n = 0;
    for (const [k, field] of [[1, RECORDS + 2], [2, CRC], [1, BASE_OFFSET + 7], [2, BATCH_LENGTH + 3], [3, RECORDS], [0, BATCH_LENGTH + 2]]) {
      const work = join(dir, `flip-${n++}`);
      await cp(src, work, { recursive: true });
      const fh = await open(join(work, `${SEG0}.log`), 'r+');
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, spans[k].start + field);
      b[0] ^= 0x5a;
      await fh.write(b, 0, 1, spans[k].start + field);
      await fh.close();
      const rec = recorder();
      const log = await DiskPartitionLog.open(work, 't', 0, effectiveConfig(), { logger: rec.logger });
      const keep = spans.slice(0, k).reduce((s, x) => s + x.count, 0);
      await expectRecords(log, keep);
      const trunc = rec.events.filter((e) => e.event === 'storage.recovery.truncated');
      assert.equal(trunc.length, 1);
      // The report says what was lost: every byte from the damaged batch on, and its records
      // (counted from the headers; a damaged length ends the count, so then at most that).
      const total = spans.reduce((s, x) => s + x.count, 0);
      assert.equal(trunc[0].fields.droppedBytes, spans[spans.length - 1].end - spans[k].start);
      const lengthHit = field === BATCH_LENGTH + 3 || field === BATCH_LENGTH + 2;
      if (lengthHit) assert.ok(Number(trunc[0].fields.droppedRecords) <= total - keep);
      else assert.equal(trunc[0].fields.droppedRecords, total - keep, `field ${field}`);
      assert.equal((await log.append(batchOf(1, keep))).baseOffset, keep);
      await log.close();
    }
  } finally {
    await cleanup();
  }
});

test('damage in an older segment drops the later segments too', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfg = effectiveConfig({ segmentBytes: 300 });
    const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
    for (let i = 0; i < 12; i++) await log.append(batchOf(2, i * 2));
    const segs = log.stats().segmentCount;
    assert.ok(segs >= 4);
    await log.close();
    await forgetCleanShutdown(dir);
    const logs = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
    const victim = join(dir, logs[1]);
    await truncate(victim, (await stat(victim)).size - 5);
    const rec = recorder();
    const again = await DiskPartitionLog.open(dir, 't', 0, cfg, { logger: rec.logger });
    const base1 = Number(logs[1].slice(0, 20));
    assert.equal(again.stats().segmentCount, 2);
    assert.ok(again.logEndOffset > base1 && again.logEndOffset < 24);
    await expectRecords(again, again.logEndOffset);
    const dropped = rec.events.filter((e) => e.event === 'storage.recovery.segment-dropped');
    assert.equal(dropped.length, segs - 2);
    // Each dropped segment reports its bytes and records; with the truncated tail they add up to what was lost.
    const trunc = rec.events.filter((e) => e.event === 'storage.recovery.truncated');
    const lostRecords = [...dropped, ...trunc].reduce((n, e) => n + Number(e.fields.droppedRecords), 0);
    assert.equal(lostRecords, 24 - again.logEndOffset);
    for (const e of dropped) assert.ok(Number(e.fields.droppedBytes) > 0);
    assert.equal((await readdir(dir)).filter((f) => f.endsWith('.log')).length, 2);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('a deleted or damaged index is rebuilt to the same bytes', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfg = effectiveConfig({ segmentBytes: 800, indexIntervalBytes: 150 });
    const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
    for (let i = 0; i < 30; i++) await log.append(batchOf(3, i * 3));
    await log.close();
    const indexes = (await readdir(dir)).filter((f) => f.endsWith('.index')).sort();
    assert.ok(indexes.length >= 3);
    const before = await Promise.all(indexes.map((f) => readFile(join(dir, f))));
    assert.ok(before[0].length >= 16, 'index has entries');
    await unlink(join(dir, indexes[0]));
    await writeFile(join(dir, indexes[1]), Buffer.from([1, 2, 3]));
    const last = indexes[indexes.length - 1];
    await unlink(join(dir, last.replace('.index', '.timeindex')));
    const rec = recorder();
    const again = await DiskPartitionLog.open(dir, 't', 0, cfg, { logger: rec.logger });
    assert.equal(rec.events.filter((e) => e.event === 'storage.index.rebuilt').length, 3);
    const after = await Promise.all(indexes.map((f) => readFile(join(dir, f))));
    assert.deepEqual(after, before);
    await expectRecords(again, 90);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('the clean-shutdown marker skips the scan and stays until the first change; a crash after a change gets the scan', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const { spans } = await buildLog(dir, [2, 2, 2]);
    // Damage that only a CRC scan can see.
    const fh = await open(join(dir, `${SEG0}.log`), 'r+');
    await fh.write(Buffer.from([0xee]), 0, 1, spans[1].start + RECORDS + 1);
    await fh.close();
    const rec = recorder();
    let log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig(), { logger: rec.logger });
    assert.equal(log.logEndOffset, 6);
    assert.equal(rec.events.length, 0);
    // Unchanged, the files are as the clean close left them: the marker stays.
    await stat(join(dir, CLEAN_SHUTDOWN_FILE));
    await log.append(batchOf(2, 6));
    await assert.rejects(stat(join(dir, CLEAN_SHUTDOWN_FILE)));
    // Not closed: the next open must scan and finds the damage.
    await log.flush();
    const crashed = log;
    log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig(), { logger: rec.logger });
    assert.equal(log.logEndOffset, 2);
    assert.equal(rec.events[0].event, 'storage.recovery.truncated');
    await log.close();
    await crashed.close(); // only to release its file handles
  } finally {
    await cleanup();
  }
});

test('after a roll only segments past the recovery point are scanned', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfg = effectiveConfig({ segmentBytes: 300 });
    const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
    for (let i = 0; i < 8; i++) await log.append(batchOf(2, i * 2));
    await log.close();
    await unlink(join(dir, CLEAN_SHUTDOWN_FILE));
    const logs = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
    assert.ok(logs.length >= 3);
    await writeFile(join(dir, RECOVERY_POINT_FILE), String(Number(logs[logs.length - 1].slice(0, 20))));
    // CRC damage in segment 0 (before the recovery point) is not looked for...
    const fh = await open(join(dir, logs[0]), 'r+');
    await fh.write(Buffer.from([0xee]), 0, 1, RECORDS + 1);
    await fh.close();
    // ...but a torn tail in the last one is.
    const lastPath = join(dir, logs[logs.length - 1]);
    await truncate(lastPath, (await stat(lastPath)).size - 3);
    const rec = recorder();
    const again = await DiskPartitionLog.open(dir, 't', 0, cfg, { logger: rec.logger });
    assert.equal(again.logEndOffset, 14);
    assert.deepEqual(rec.events.map((e) => e.event), ['storage.recovery.truncated']);
    await again.close();
  } finally {
    await cleanup();
  }
});
