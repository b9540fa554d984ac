/**
 * DiskPartitionLog.truncateTo: what a follower does before it fetches from a new leader
 * (docs/cluster.md, truncation by leader epoch). The records at and after the offset go
 * (the batch holding it whole), the files follow (later segments deleted, the kept one cut,
 * its indexes rebuilt), and the log goes on from the new end: through appends, reads,
 * restarts and a power loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { OffsetOutOfRangeError } from '../../src/storage/errors.js';
import { nodeFileSystem, type FileSystem, type StorageFile } from '../../src/storage/file-system.js';
import { SEGMENT_FILE, Segment } from '../../src/storage/segment.js';
import { CrashDisk } from './crash-disk.js';
import { batchOf, batchesIn, epochRuns, storedBatches, tempDir } from './helpers.js';

const CFG = effectiveConfig({ segmentBytes: 1000, indexIntervalBytes: 300, retentionMs: -1 });

/** 30 batches of 3 records: batch i holds offsets 3i..3i+2 with values v<offset>, over several segments. */
async function filledLog(dir: string, fs?: FileSystem): Promise<DiskPartitionLog> {
  const log = await DiskPartitionLog.open(dir, 't', 0, CFG, fs ? { fs } : {});
  for (let i = 0; i < 30; i++) await log.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: i < 15 ? 0 : 1 });
  return log;
}

async function segmentBases(dir: string): Promise<number[]> {
  return (await readdir(dir)).map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null).map((m) => Number(m![1]));
}

const values = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `v${from + i}${'x'.repeat(20)}`);

/** The log holds exactly offsets [start, end) with values v<offset>, readable from every offset. */
async function assertHolds(log: DiskPartitionLog, end: number): Promise<void> {
  assert.equal(log.logEndOffset, end);
  const batches = await storedBatches(log);
  assert.deepEqual(batches.flatMap((b) => b.values), values(log.logStartOffset, end));
  for (let o = log.logStartOffset; o < end; o++) {
    const first = batchesIn((await log.read(o, 1)).bytes)[0];
    assert.ok(first.base <= o && o < first.base + first.values.length, `a read at ${o} starts with the batch holding it`);
  }
  await assert.rejects(log.read(end + 1, 100), OffsetOutOfRangeError);
  assert.deepEqual((await log.verify()).problems, []);
}

test('truncateTo inside a segment removes the batch holding the offset whole, later segments too, and appends go on from there', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await filledLog(dir);
    const before = await segmentBases(dir);
    assert.ok(before.length >= 4, `several segments (${before.length})`);
    const target = before[1] + 4; // inside the second segment, inside a batch (batches start at multiples of 3)
    const holder = target - (target % 3);
    assert.ok(holder > before[1] && target % 3 !== 0);
    assert.equal(await log.truncateTo(target), holder, 'the new end is the start of the batch that held the offset');
    assert.deepEqual(await segmentBases(dir), before.slice(0, 2));
    await assertHolds(log, holder);
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }], 'the epoch that only wrote the removed tail is gone');
    assert.equal(await log.offsetForTimestamp(1_700_000_000_000 + 80), null, 'the time index forgets the removed records');

    const r = await log.append(batchOf(3, holder, undefined, 20), { leaderEpoch: 2 });
    assert.deepEqual(r, { baseOffset: holder, lastOffset: holder + 2, logEndOffset: holder + 3 });
    assert.deepEqual(log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: holder }]);
    await assertHolds(log, holder + 3);
    await log.close();

    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await assertHolds(again, holder + 3);
    assert.deepEqual(again.leaderEpochs(), [{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: holder }]);
    assert.equal((await again.append(batchOf(3, holder + 3, undefined, 20))).baseOffset, holder + 3);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('truncateTo a segment boundary deletes that segment and the ones after it; the one before becomes active', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await filledLog(dir);
    const before = await segmentBases(dir);
    const target = before[2];
    assert.equal(await log.truncateTo(target), target);
    assert.deepEqual(await segmentBases(dir), before.slice(0, 2));
    await assertHolds(log, target);
    // The sealed segment is active again: appends go into it (and roll when it is full).
    for (let o = target; o < target + 30; o += 3) assert.equal((await log.append(batchOf(3, o, undefined, 20))).baseOffset, o);
    await assertHolds(log, target + 30);
    await log.close();
    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await assertHolds(again, target + 30);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('truncateTo the log start empties the log; to the log end changes nothing; outside the log is refused', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await filledLog(dir);
    const files = await readdir(dir);
    const active = Math.max(...(await segmentBases(dir)));
    const activeBytes = await readFile(join(dir, `${String(active).padStart(20, '0')}.log`));
    assert.equal(await log.truncateTo(90), 90);
    assert.deepEqual(await readdir(dir), files);
    assert.deepEqual(await readFile(join(dir, `${String(active).padStart(20, '0')}.log`)), activeBytes);
    await assert.rejects(log.truncateTo(91), OffsetOutOfRangeError);
    await assert.rejects(log.truncateTo(-1), OffsetOutOfRangeError);
    await assert.rejects(log.truncateTo(1.5), OffsetOutOfRangeError);
    assert.equal(log.logEndOffset, 90);

    assert.equal(await log.truncateTo(0), 0);
    assert.deepEqual(await segmentBases(dir), [0]);
    assert.equal(log.logEndOffset, 0);
    assert.deepEqual(log.leaderEpochs(), []);
    assert.deepEqual(await storedBatches(log), []);
    assert.equal((await log.append(batchOf(3, 0, undefined, 20))).baseOffset, 0);
    await assertHolds(log, 3);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('truncateTo after retention moved the log start: to the start is allowed, below it is out of range', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const cfgLog = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ ...CFG, retentionBytes: 1200 }));
    for (let i = 0; i < 30; i++) await cfgLog.append(batchOf(3, 3 * i, undefined, 20), { leaderEpoch: i < 15 ? 0 : 1 });
    assert.ok(await cfgLog.enforceRetention() > 0);
    const start = cfgLog.logStartOffset;
    assert.ok(start > 45, `retention removed epoch 0 entirely (start ${start})`);
    assert.deepEqual(cfgLog.leaderEpochs(), [{ epoch: 1, startOffset: start }], 'the epoch of the new first offset starts there');
    await assert.rejects(cfgLog.truncateTo(start - 1), OffsetOutOfRangeError);
    assert.equal(await cfgLog.truncateTo(start), start);
    assert.equal(cfgLog.logEndOffset, start);
    assert.deepEqual(cfgLog.leaderEpochs(), []);
    assert.equal((await cfgLog.append(batchOf(3, start, undefined, 20))).baseOffset, start);
    await cfgLog.close();
  } finally {
    await cleanup();
  }
});

test('truncateTo is ordered with appends: earlier appends are written first, later ones continue from the new end', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const log = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await log.append(batchOf(3, 0, undefined, 20));
    const a1 = log.append(batchOf(3, 3, undefined, 20), { durable: true });
    const a2 = log.append(batchOf(3, 6, undefined, 20));
    const cut = log.truncateTo(6);
    const a3 = log.append(batchOf(3, 6, undefined, 20));
    const [r1, r2, end, r3] = await Promise.all([a1, a2, cut, a3]);
    assert.equal(r1.baseOffset, 3);
    assert.equal(r2.baseOffset, 6, 'the append before the truncation was written (then removed by it)');
    assert.equal(end, 6);
    assert.deepEqual(r3, { baseOffset: 6, lastOffset: 8, logEndOffset: 9 });
    await assertHolds(log, 9);
    await log.close();
  } finally {
    await cleanup();
  }
});

/** node:fs, except that the next read of a `.log` file, once armed, waits until released. */
function gatedFs(): { fs: FileSystem; arm: () => Promise<void>; release: () => void } {
  let armed = false;
  let blocked: (() => void) | null = null;
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      const fh = await nodeFileSystem.open(path, flags);
      if (!path.endsWith('.log')) return fh;
      const wrapped: StorageFile = Object.create(fh) as StorageFile;
      wrapped.read = async (buffer, offset, length, position) => {
        if (armed) {
          armed = false;
          blocked?.();
          await gate;
        }
        return fh.read(buffer, offset, length, position);
      };
      return wrapped;
    },
  };
  return {
    fs,
    arm: () => {
      armed = true;
      gate = new Promise((r) => { open = r; });
      return new Promise((r) => { blocked = r; });
    },
    release: () => open(),
  };
}

test('a read in flight during a truncation never returns removed records: it reads again, and past the new end it is out of range', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const g = gatedFs();
    const log = await filledLog(dir, g.fs);
    // A read inside the tail stops in the middle of its file read; the log is cut under it and refilled.
    let reached = g.arm();
    const inFlight = log.read(61, 1 << 20);
    await reached;
    assert.equal(await log.truncateTo(57), 57);
    await log.append(Buffer.concat([batchOf(3, 1000, undefined, 20), batchOf(3, 1003, undefined, 20)]));
    g.release();
    const got = batchesIn((await inFlight).bytes);
    assert.deepEqual(got[0].values, values(1003, 1006), 'the batch now holding 61 (new records), not the removed one');

    // A reader parked past the new end (a fetch waiting at its old position) gets OFFSET_OUT_OF_RANGE.
    // Its segment is deleted: the truncation waits for the read to let go of it.
    reached = g.arm();
    const parked = log.read(60, 1 << 20);
    await reached;
    const cut = log.truncateTo(30);
    g.release();
    assert.equal(await cut, 30);
    await assert.rejects(parked, (e: OffsetOutOfRangeError) => e instanceof OffsetOutOfRangeError && e.code === 'OFFSET_OUT_OF_RANGE' && e.logEndOffset === 30);
    await log.close();
  } finally {
    await cleanup();
  }
});

test('a segment a truncation deletes while a read holds it is removed after the read, before a segment of the same base can be created again', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const g = gatedFs();
    const log = await filledLog(dir, g.fs);
    const bases = await segmentBases(dir);
    const held = bases[bases.length - 2];
    const reached = g.arm();
    const reading = log.read(held + 1, 1 << 20).then((r) => batchesIn(r.bytes), (e: unknown) => e);
    await reached;
    const cut = log.truncateTo(bases[1]);
    // The same batches again make the same segments: `held` is created anew by a roll.
    const refill: Promise<unknown>[] = [];
    for (let o = bases[1]; o < 90; o += 3) refill.push(log.append(batchOf(3, o, undefined, 20), { leaderEpoch: o < 45 ? 0 : 1 }));
    g.release();
    assert.equal(await cut, bases[1]);
    await Promise.all(refill);
    // Read again after the truncation: past the end then, or (if the refill came first) the new records.
    const got = await reading;
    if (!(got instanceof OffsetOutOfRangeError)) assert.deepEqual((got as { values: string[] }[])[0].values.slice(0, 1), values(held, held + 1));
    assert.deepEqual(await segmentBases(dir), bases, 'the refilled segment of the same base is there');
    await log.close();
    const again = await DiskPartitionLog.open(dir, 't', 0, CFG);
    await assertHolds(again, 90);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('Segment.deleteAndWait (what truncation uses) resolves only once the last read released the segment and its files are gone', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const seg = await Segment.create(dir, 18, 300, nodeFileSystem);
    seg.acquire();
    let done = false;
    const deleting = seg.deleteAndWait().then(() => { done = true; });
    await Promise.resolve();
    assert.equal(done, false, 'not while a read holds it');
    assert.deepEqual(await segmentBases(dir), [18]);
    seg.release();
    await deleting;
    assert.deepEqual(await segmentBases(dir), [], 'removed by the time it resolves: a new segment 18 is safe to create');
  } finally {
    await cleanup();
  }
});

test('a restart after a power loss opens the truncated log; a crash during a truncation leaves a consistent prefix', { timeout: 120_000 }, async () => {
  // Resolved truncation, then power loss: the log is exactly the truncated one.
  {
    const disk = new CrashDisk();
    disk.prepareDir('/d/t-0');
    const log = await filledLog('/d/t-0', disk.mount());
    await log.flush();
    assert.equal(await log.truncateTo(52), 51);
    disk.crash();
    const after = await DiskPartitionLog.open('/d/t-0', 't', 0, CFG, { fs: disk.mount() });
    await assertHolds(after, 51);
    assert.deepEqual(after.leaderEpochs(), [{ epoch: 0, startOffset: 0 }, { epoch: 1, startOffset: 45 }]);
    assert.equal((await after.append(batchOf(3, 51, undefined, 20))).baseOffset, 51);
    await after.close();
  }
  // A crash at any file-system call of the truncation: the log is the old one, cut somewhere at
  // or after the target, on a batch boundary, with an epoch cache that matches its batches.
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 89 }), async (crashAt, target) => {
    const disk = new CrashDisk();
    disk.prepareDir('/d/t-0');
    const log = await filledLog('/d/t-0', disk.mount());
    await log.flush();
    const newEnd = target - (target % 3);
    disk.crashAfterOps(crashAt);
    const done = await log.truncateTo(target).then(() => true, () => false);
    if (disk.crashes === 0) disk.crash();
    const after = await DiskPartitionLog.open('/d/t-0', 't', 0, CFG, { fs: disk.mount() });
    const end = after.logEndOffset;
    assert.ok(done ? end === newEnd : end >= newEnd && end <= 90, `end ${end}, target ${newEnd}, resolved ${done}`);
    const batches = await storedBatches(after);
    assert.deepEqual(batches.flatMap((b) => b.values), values(0, end));
    assert.deepEqual(after.leaderEpochs(), epochRuns(batches));
    await after.close();
  }), { numRuns: 60 });
});
