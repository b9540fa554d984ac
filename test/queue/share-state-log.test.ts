import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ShareCoordinator } from '../../src/queue/share-coordinator.js';
import { SHARE_STATE_PREFIX, ShareStateLog } from '../../src/queue/share-state-log.js';
import { ManualClock, countOf, offsetsOf } from './helpers.js';
import { logDirEngines } from '../state-log/log-dir-engines.js';
import type { BadStateRecord } from '../../src/state-log/compacted-log.js';
import { encodeBatch } from '../../src/record/index.js';
import { pack } from 'msgpackr';
import { MemoryGenerationDir, type MemoryGenerationLog } from '../../src/state-log/memory-generation-dir.js';

const ENGINES = logDirEngines(SHARE_STATE_PREFIX);

const src = (end: number) => [{ topic: 't', partition: 0, logStartOffset: 0, logEndOffset: end }];
const tgt = (offsets: number[]) => [{ topic: 't', partition: 0, offsets }];

/** Config writes (each a state record) until the log has compacted at least once. */
async function trafficUntilCompacted(c: ShareCoordinator, s: ShareStateLog, group: string, maxDeliveries: number): Promise<void> {
  for (let i = 0; i < 40; i++) {
    c.configure(group, { maxDeliveries });
    await s.persist();
  }
  await s.idle();
  assert.ok(s.compactions > 0, 'compacted');
}

for (const [name, make] of ENGINES) {
  describe(`share state log on ${name}`, () => {
    test('restart loses no ack and drops no unacked record; acquired come back with their count', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock });
        c.configure('g', { maxDeliveries: 3, retryBackoffMs: 0 });
        c.acquire('g', 'w1', src(20), 10); // 0..9
        await s.persist(false);
        c.ack('g', 'w1', tgt([0, 1, 2, 5, 7]));
        c.deadLettersWritten(c.reject('g', 'w1', tgt([3])));
        c.release('g', 'w1', tgt([4]), { delayMs: 0 });
        await s.persist();
        c.acquire('g', 'w1', src(20), 1); // 4 again, count 2
        await s.persist(false);
        await s.idle();

        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock });
        assert.equal(c.group('g')!.config.maxDeliveries, 3, 'config survives');
        const d = c.describe('g');
        assert.equal(d.acked, 5);
        assert.equal(d.deadLettered, 1);
        assert.equal(d.inFlight, 0);
        const got = c.acquire('g', 'w2', src(20), 100)[0].ranges;
        const byOffset = new Map<number, number>();
        for (const r of got) for (let o = r.firstOffset; o <= r.lastOffset; o++) byOffset.set(o, r.deliveryCount);
        assert.deepEqual([...byOffset.keys()].sort((a, b) => a - b), [4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
        // Count kept through the restart; this acquisition is one more delivery.
        assert.equal(byOffset.get(4), 3);
        assert.equal(byOffset.get(6), 2);
        assert.equal(byOffset.get(10), 1);
      } finally {
        await e.close();
      }
    });

    test('restart: cancelled records stay cancelled (held, not taken, and ahead of the window) and the total carries on', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock });
        c.configure('g', { retryBackoffMs: 0 });
        c.acquire('g', 'w1', src(10), 2); // 0, 1 held by w1
        const r = c.cancel('g', src(10)[0], [1, 3, 8]); // 1 held; 3 in the backlog; 8 widens the window
        assert.deepEqual(r.cancelled, [{ offset: 1, workerId: 'w1' }, { offset: 3 }, { offset: 8 }]);
        assert.deepEqual(c.cancel('g', src(10)[0], [1, 10]).skipped.map((k) => k.offset), [1, 10], 'cancelled again or past the log end: skipped');
        assert.throws(() => c.ack('g', 'w1', tgt([1])), /cancelled/);
        await s.persist(true);
        await s.idle();

        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock });
        assert.equal(c.describe('g').cancelled, 3);
        const got: number[] = [];
        for (const rr of c.acquire('g', 'w2', src(10), 100)[0].ranges) for (let o = rr.firstOffset; o <= rr.lastOffset; o++) got.push(o);
        assert.deepEqual(got, [0, 2, 4, 5, 6, 7, 9], 'cancelled offsets are never delivered');
      } finally {
        await e.close();
      }
    });

    test('restart: a give-back (unstarted release) left no attempt behind; a failed release and an expired lock did', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock });
        c.configure('g', { maxDeliveries: 2, retryBackoffMs: 0, visibilityTimeoutMs: 1000 });
        c.acquire('g', 'w1', src(3), 3); // 0, 1, 2: count 1 each
        await s.persist(false);
        c.release('g', 'w1', tgt([0]), { kind: 'unstarted', reason: 'worker closing' });
        c.release('g', 'w1', tgt([1]), { reason: 'boom' });
        await s.persist();
        clock.t += 1000;
        c.tick(); // 2's lock ran out while held: an attempt
        await s.persist();
        await s.idle();

        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock });
        const got = new Map<number, number>();
        for (const r of c.acquire('g', 'w2', src(3), 10)[0].ranges) for (let o = r.firstOffset; o <= r.lastOffset; o++) got.set(o, r.deliveryCount);
        assert.deepEqual([...got].sort((a, b) => a[0] - b[0]), [[0, 1], [1, 2], [2, 2]], 'offset 0 is on its first delivery again');
        // Offsets 1 and 2 are on their last attempt, offset 0 is not.
        const dead = c.release('g', 'w2', tgt([0, 1, 2]), { reason: 'fail' });
        assert.deepEqual(dead.map((d) => d.offset).sort(), [1, 2]);
      } finally {
        await e.close();
      }
    });

    test('a record held for its dead-letter copy stays held across restart and compaction (cause, reason, count), and is resumed, never handed out', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        c.configure('g', { maxDeliveries: 2, retryBackoffMs: 0, deadLetterTopic: 'graveyard' });
        c.acquire('g', 'w1', src(6), 6); // 0..5
        const rejected = c.reject('g', 'w1', tgt([1]), 'bad json');
        c.ack('g', 'w1', tgt([0, 5]));
        c.release('g', 'w1', tgt([2]), { reason: 'db down' });
        await s.persist(); // 1 held (its copy not written), 3 and 4 still held by w1
        c.acquire('g', 'w1', src(6), 1); // 2 again, its last attempt
        const outOfAttempts = c.release('g', 'w1', tgt([2]), { reason: 'db down again' });
        const archived = c.reject('g', 'w1', tgt([3]));
        c.deadLettersWritten(archived); // 3's copy is written: archived in the same drain
        await s.persist();
        assert.deepEqual([rejected.length, outOfAttempts.length], [1, 1]);

        const reopen = async (): Promise<void> => {
          await s.idle();
          await e.restart();
          c = new ShareCoordinator({ clock });
          s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        };
        const check = (when: string): void => {
          assert.deepEqual(c.deadLettersToResume(), [
            { group: 'g', topic: 't', partition: 0, offset: 1, deliveryCount: 1, cause: 'rejected', reason: 'bad json', deadLetterTopic: 'graveyard' },
            { group: 'g', topic: 't', partition: 0, offset: 2, deliveryCount: 2, cause: 'max-deliveries', reason: 'db down again', deadLetterTopic: 'graveyard' },
          ], `${when}: both holds resumed with their cause, reason and count; 3 was archived`);
          const d = c.describe('g');
          assert.deepEqual({ inFlight: d.inFlight, deadLettered: d.deadLettered, acked: d.acked, oldest: d.oldestUnackedMs },
            { inFlight: 2, deadLettered: 1, acked: 2, oldest: 0 }, `${when}: held in flight, not archived; 4 came back available`);
          assert.deepEqual(offsetsOf(c.acquire('g', 'w9', src(6), 10)[0]?.ranges ?? []), [4], `${when}: only 4 is handed out`);
          c.release('g', 'w9', tgt([4]), { kind: 'unstarted' });
        };
        await reopen();
        check('after a restart');
        await trafficUntilCompacted(c, s, 'other', 3);
        await reopen();
        check('after a compaction');
        // The copies are written now: archived, and that survives the next restart.
        assert.equal(c.deadLettersWritten(c.deadLettersToResume()), 2);
        await s.persist();
        await reopen();
        assert.deepEqual(c.deadLettersToResume(), []);
        assert.deepEqual([c.describe('g').deadLettered, c.describe('g').inFlight], [3, 0]);
      } finally {
        await e.close();
      }
    });

    test('a state record of the format before holds (no dl) reads as it did: the record is available with its count', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock });
        c.configure('g', {});
        await s.persist();
        const log = await e.dir().open(s.generation);
        // What the broker of b5ccaf5 wrote for a record rejected and held: AVAILABLE, count 1.
        await log.append(encodeBatch([{ key: JSON.stringify(['u', 'g', 't', 0]), value: pack({ v: 1, start: 0, runs: [0, 0, 2, 1, 1, 1, 0, 1], acked: 1, deadLettered: 0, redeliveries: 0 }) }]));
        await s.idle();
        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock });
        assert.deepEqual(c.deadLettersToResume(), []);
        assert.deepEqual(c.acquire('g', 'w', src(2), 10)[0].ranges, [{ firstOffset: 1, lastOffset: 1, deliveryCount: 2 }]);
      } finally {
        await e.close();
      }
    });

    test('a reset survives restart and compaction: the old window is replaced, not merged', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        c.acquire('g', 'w', src(10), 10);
        c.ack('g', 'w', tgt([0, 1, 2, 3, 4, 5, 6, 7]));
        c.leave('g', 'w'); // 8 and 9: one failed attempt each
        await s.persist();
        c.resetOffsets('g', [{ topic: 't', partition: 0, offset: 2 }]);
        await s.persist();
        await s.idle();

        const reopen = async () => {
          await e.restart();
          c = new ShareCoordinator({ clock });
          s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
          const got = c.acquire('g', 'w', src(10), 100)[0].ranges;
          c.leave('g', 'w');
          c.resetOffsets('g', [{ topic: 't', partition: 0, offset: 2 }]);
          await s.persist();
          return got;
        };
        let got = await reopen();
        assert.deepEqual(offsetsOf(got), [2, 3, 4, 5, 6, 7, 8, 9], 'acked records from the reset point on come again');
        assert.ok(got.every((r) => r.deliveryCount === 1), 'delivery counts start over');
        assert.equal(c.describe('g').acked, 8, 'totals survive');

        await trafficUntilCompacted(c, s, 'g', 5);
        got = await reopen();
        assert.deepEqual(offsetsOf(got), [2, 3, 4, 5, 6, 7, 8, 9]);
      } finally {
        await e.close();
      }
    });

    test('a deleted group stays deleted across restart and compaction; one started again keeps only its new state', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        c.configure('gone', { maxDeliveries: 9 });
        c.configure('kept', { maxDeliveries: 4 });
        for (const g of ['gone', 'kept']) {
          c.acquire(g, 'w', src(10), 10);
          c.ack(g, 'w', tgt([0, 1, 2]));
          c.leave(g, 'w');
        }
        await s.persist();
        c.deleteGroup('gone');
        await s.persist();
        // 'kept' is deleted and started again before the next persist: one drain holds both.
        c.deleteGroup('kept');
        c.configure('kept', { maxDeliveries: 6 });
        c.acquire('kept', 'w', src(10), 2); // 0, 1 of the new group
        await s.persist();
        await s.idle();

        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        assert.deepEqual(c.groups(), ['kept']);
        assert.equal(c.group('kept')!.config.maxDeliveries, 6);
        assert.equal(c.describe('kept').acked, 0, 'the old group\'s acks are gone');
        const back = c.acquire('kept', 'w', src(10), 100);
        assert.equal(countOf(back), 10, 'every record of the new group is available');

        // Enough traffic to compact: the delete record goes, the deletion stays.
        await trafficUntilCompacted(c, s, 'kept', 6);
        await e.restart();
        c = new ShareCoordinator({ clock });
        await ShareStateLog.open(e.dir(), c, { clock });
        assert.deepEqual(c.groups(), ['kept']);
      } finally {
        await e.close();
      }
    });

    test('a group deleted while a snapshot is being written is left out of it, not a crash', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        const c = new ShareCoordinator({ clock });
        const s = await ShareStateLog.open(e.dir(), c, { clock });
        // Enough runs per group that the snapshot comes in several batches (about 4096 runs each).
        for (const g of ['ga', 'gb', 'gone']) {
          c.acquire(g, 'w', src(6000), 6000);
          c.ack(g, 'w', tgt(Array.from({ length: 3000 }, (_, i) => i * 2)));
          c.leave(g, 'w');
        }
        const batches = (s as unknown as { snapshotBatches(now: number): Iterable<{ key: unknown }[]> }).snapshotBatches(clock.now());
        const it = batches[Symbol.iterator]();
        assert.equal(it.next().done, false);
        c.deleteGroup('gone'); // between two batches, as an append's await would allow
        const keys: string[] = [];
        for (let r = it.next(); !r.done; r = it.next()) for (const rec of r.value) keys.push(String(rec.key));
        assert.ok(!keys.some((k) => k.includes('"gone"')), 'nothing of the deleted group');
        assert.ok(keys.some((k) => k.includes('"gb"')), 'the other groups are still written');
      } finally {
        await e.close();
      }
    });

    test('a deleted topic\'s share-partitions stay dropped across restart and compaction; started over, only the new window is kept', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        const two = [...src(20), { topic: 'u', partition: 0, logStartOffset: 0, logEndOffset: 5 }];
        for (const g of ['g1', 'g2']) {
          c.acquire(g, 'w', two, 25);
          c.ack(g, 'w', [{ topic: 't', partition: 0, offsets: Array.from({ length: 20 }, (_, i) => i) }]);
        }
        await s.persist();
        // g1 holds t/0 records 0..2 when t is deleted: they go without an attempt or a dead letter.
        c.acquire('g1', 'w', src(23), 3);
        const dropped = c.topicDeleted('t');
        assert.deepEqual(dropped, [
          { group: 'g1', topic: 't', partitions: [{ partition: 0, startOffset: 20, inFlight: 3 }] },
          { group: 'g2', topic: 't', partitions: [{ partition: 0, startOffset: 20, inFlight: 0 }] },
        ]);
        assert.deepEqual(c.tick(), [], 'no dead letters');
        assert.deepEqual(c.describe('g1').partitions.map((p) => p.topic), ['u']);
        // g2 starts over on the re-created t in the same drain as the drop.
        c.startPartitionsAt('g2', 't', [{ partition: 0, offset: 0, logEndOffset: 2 }]);
        await s.persist();
        await s.idle();

        const check = (what: string) => {
          assert.deepEqual(c.describe('g1').partitions.map((p) => `${p.topic}/${p.partition}`), ['u/0'], what);
          assert.deepEqual(c.describe('g2').partitions.map((p) => [`${p.topic}/${p.partition}`, p.startOffset]), [['t/0', 0], ['u/0', 0]], what);
          assert.deepEqual(offsetsOf(c.acquire('g2', 'w2', src(2), 10)[0]?.ranges ?? []), [0, 1], what);
        };
        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        check('after a restart');
        c.leave('g2', 'w2');
        await s.persist();
        await trafficUntilCompacted(c, s, 'g1', 4);
        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 20, compactRatio: 2 });
        check('after compaction and a restart');
      } finally {
        await e.close();
      }
    });

    test('replay skips a record that does not decode or apply, reports it, and keeps every other group\'s state', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock });
        c.configure('good', { maxDeliveries: 3 });
        c.acquire('good', 'w', src(10), 10);
        c.ack('good', 'w', tgt([0, 1, 2]));
        await s.persist();
        const log = await e.dir().open(s.generation);
        const badAt = log.logEndOffset;
        await log.append(encodeBatch([
          { key: 'not json', value: 'x' },
          { key: JSON.stringify(['u', 'good', 't', 0]), value: pack({ v: 1, start: 0, runs: [0, 1e9, 2, 1] }) }, // would allocate gigabytes
          // An older broker accepted any dead-letter topic: this one takes the default, maxDeliveries stays.
          { key: JSON.stringify(['c', 'legacy']), value: pack({ v: 1, config: { ...c.defaults, maxDeliveries: 7, deadLetterTopic: '__consumer_offsets-0' } }) },
        ]));
        c.ack('good', 'w', tgt([3])); // after the bad records: still applied
        await s.persist();
        await s.idle();

        await e.restart();
        const seen: BadStateRecord[] = [];
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock, onBadRecord: (r) => { seen.push(r); return true; } });
        assert.deepEqual(seen.map((r) => [r.generation, r.offset]), [[0, badAt], [0, badAt + 1], [0, badAt + 2]]);
        assert.equal(seen[0].key?.toString(), 'not json');
        assert.match(String(seen[1].error), /bad run/);
        assert.match(String(seen[2].error), /deadLetterTopic/);
        assert.equal(c.describe('good').acked, 4, 'the good group keeps its acks');
        assert.equal(c.group('good')!.config.maxDeliveries, 3);
        assert.equal(c.group('legacy')!.config.deadLetterTopic, null, 'the refused setting takes its default');
        assert.equal(c.group('legacy')!.config.maxDeliveries, 7, 'the others are kept');

        // All kept elsewhere: the log was rewritten without them.
        await s.idle();
        await e.restart();
        seen.length = 0;
        c = new ShareCoordinator({ clock });
        await ShareStateLog.open(e.dir(), c, { clock, onBadRecord: (r) => { seen.push(r); return true; } });
        assert.deepEqual(seen, []);
        assert.equal(c.describe('good').acked, 4);
        assert.equal(c.group('legacy')!.config.maxDeliveries, 7);
      } finally {
        await e.close();
      }
    });

    test('compaction keeps state, drops history, and bounds replay', async () => {
      const e = await make();
      try {
        const clock = new ManualClock();
        let c = new ShareCoordinator({ clock });
        let s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 50, compactRatio: 4 });
        let acked = 0;
        for (let i = 0; i < 300; i++) {
          const parts = c.acquire('g', 'w', src(10_000), 3);
          const offs = offsetsOf(parts[0].ranges);
          c.ack('g', 'w', tgt(offs.slice(0, 2))); // the third stays in flight
          acked += 2;
          await s.persist();
        }
        await s.idle();
        assert.ok(s.compactions > 0, 'compacted');
        assert.ok(s.generation > 0);
        await e.restart();
        c = new ShareCoordinator({ clock });
        s = await ShareStateLog.open(e.dir(), c, { clock, compactMinRecords: 50 });
        assert.ok(s.replayed < 250, `replayed ${s.replayed} records`);
        assert.equal(c.describe('g').acked, acked);
        const back = c.acquire('g', 'w', src(900), 1000);
        assert.equal(countOf(back), 300, 'every unacked record is available again');
        assert.ok(back[0].ranges.every((r) => r.deliveryCount === 2), 'one acquisition before the restart, this is the second');
        assert.deepEqual((await e.dir().generations()).length, 1, 'old generations removed');
      } finally {
        await e.close();
      }
    });
  });
}

/**
 * A disk-like generation log: a durable append, and a flush, resolve only when the test
 * lets the "fsync" finish; a plain append resolves at once (the write).
 */
function slowFsyncDir(): { dir: MemoryGenerationDir; fsyncDone: () => void; appends: { durable: boolean }[] } {
  const dir = new MemoryGenerationDir();
  const gates: (() => void)[] = [];
  const fsync = () => new Promise<void>((r) => gates.push(r));
  const appends: { durable: boolean }[] = [];
  const open = dir.open.bind(dir);
  dir.open = async (gen: number) => {
    const log = await open(gen);
    const append = log.append.bind(log);
    log.append = async (buf: Buffer, opts?: { durable?: boolean }) => {
      appends.push({ durable: opts?.durable === true });
      const r = await append(buf);
      if (opts?.durable) await fsync();
      return r;
    };
    (log as MemoryGenerationLog & { flush(): Promise<void> }).flush = fsync;
    return log;
  };
  return { dir, fsyncDone: () => { for (const g of gates.splice(0)) g(); }, appends };
}

test('a non-durable persist (an acquisition) is not queued behind an earlier durable persist\'s fsync, which still holds its caller until it ends', async () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  const { dir, fsyncDone } = slowFsyncDir();
  const s = await ShareStateLog.open(dir, c, { clock });
  c.configure('g', { maxDeliveries: 3 });
  c.acquire('g', 'w1', src(20), 5);
  let acked = false;
  c.ack('g', 'w1', tgt([0, 1]));
  const ack = s.persist(true).then(() => { acked = true; });
  c.acquire('g', 'w2', src(20), 5);
  const acquired = await Promise.race([s.persist(false).then(() => 'written'), new Promise((r) => setTimeout(() => r('stuck behind the fsync'), 2_000))]);
  assert.equal(acquired, 'written');
  await new Promise((r) => setImmediate(r));
  assert.equal(acked, false, 'the ack is not answered before its fsync');
  fsyncDone();
  await ack;
  assert.equal(acked, true);
  // Nothing left to write: a durable persist still waits for the fsync of what was written.
  c.ack('g', 'w2', tgt([5]));
  const p = s.persist(true);
  let done = false;
  const q = s.persist(true).then(() => { done = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(done, false, 'a durable persist with nothing new waits for the earlier write\'s fsync');
  fsyncDone();
  await Promise.all([p, q]);
});
