import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShareCoordinator, type PartitionSource } from '../../src/queue/share-coordinator.js';
import { deadLetterRecord, readDeadLetterHeaders } from '../../src/queue/dead-letter.js';
import { decodeBatch, encodeBatch } from '../../src/record/index.js';
import { ManualClock, countOf, offsetsOf } from './helpers.js';

const one = (end: number, start = 0): PartitionSource[] => [{ topic: 't', partition: 0, logStartOffset: start, logEndOffset: end }];

test('10 workers on a 1-partition topic all get work', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  const seen = new Set<number>();
  for (let w = 0; w < 10; w++) {
    const got = c.acquire('g', `w${w}`, one(100), 5);
    assert.equal(countOf(got), 5, `worker ${w}`);
    for (const o of offsetsOf(got[0].ranges)) {
      assert.ok(!seen.has(o), `offset ${o} handed out twice`);
      seen.add(o);
    }
  }
  const d = c.describe('g');
  assert.equal(d.workers.length, 10);
  assert.equal(d.inFlight, 50);
  assert.equal(d.available, 50);
  assert.ok(d.workers.every((w) => w.inFlight === 5));
});

test('a worker that dies while holding records: released after the session timeout, redelivered once with delivery count 2', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock, defaults: { sessionTimeoutMs: 10_000, visibilityTimeoutMs: 60_000, retryBackoffMs: 0 } });
  const held = c.acquire('g', 'dead', one(3), 3);
  assert.equal(countOf(held), 3);
  clock.t += 5_000;
  c.heartbeat('g', 'alive');
  assert.equal(countOf(c.acquire('g', 'alive', one(3), 10)), 0, 'still locked');
  clock.t += 5_000;
  c.heartbeat('g', 'alive');
  assert.deepEqual(c.tick(), []);
  assert.deepEqual(c.describe('g').workers.map((w) => w.workerId), ['alive']);
  const again = c.acquire('g', 'alive', one(3), 10);
  assert.deepEqual(again[0].ranges, [{ firstOffset: 0, lastOffset: 2, deliveryCount: 2 }]);
  c.ack('g', 'alive', [{ topic: 't', partition: 0, offsets: [0, 1, 2] }]);
  assert.equal(countOf(c.acquire('g', 'alive', one(3), 10)), 0, 'exactly once more');
  assert.throws(() => c.ack('g', 'dead', [{ topic: 't', partition: 0, offsets: [0] }]), (e: unknown) => (e as { code: string }).code === 'UNKNOWN_MEMBER_ID');
  const d = c.describe('g');
  assert.equal(d.acked, 3);
  assert.equal(d.redeliveries, 3);
});

test('faster workers (acquiring more often) get more records', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  const got = { fast: 0, slow: 0 };
  for (let tick = 0; tick < 300; tick++) {
    clock.t += 10;
    for (const [w, every] of [['fast', 1], ['slow', 4]] as const) {
      if (tick % every !== 0) continue;
      const parts = c.acquire('g', w, one(1_000_000), 2);
      got[w] += countOf(parts);
      c.ack('g', w, parts.map((p) => ({ topic: p.topic, partition: p.partition, offsets: offsetsOf(p.ranges) })));
    }
  }
  assert.equal(got.fast, 600);
  assert.equal(got.slow, 150);
});

test('hand-out is fair across partitions and rotates', () => {
  const c = new ShareCoordinator({ clock: new ManualClock() });
  const src: PartitionSource[] = [0, 1, 2, 3].map((p) => ({ topic: 't', partition: p, logStartOffset: 0, logEndOffset: 100 }));
  const per = [0, 0, 0, 0];
  for (let i = 0; i < 10; i++) for (const p of c.acquire('g', 'w', src, 6)) per[p.partition] += countOf([p]);
  assert.equal(per.reduce((a, b) => a + b), 60);
  assert.ok(Math.max(...per) - Math.min(...per) <= 3, per.join(','));
  // One partition empty: the others fill the request.
  src[0].logEndOffset = 0;
  const c2 = new ShareCoordinator({ clock: new ManualClock() });
  assert.equal(countOf(c2.acquire('g', 'w', src, 9)), 9);
});

test('settle requests are all or nothing across partitions', () => {
  const c = new ShareCoordinator({ clock: new ManualClock() });
  const src: PartitionSource[] = [0, 1].map((p) => ({ topic: 't', partition: p, logStartOffset: 0, logEndOffset: 10 }));
  c.acquire('g', 'w', src, 4);
  assert.throws(() => c.ack('g', 'w', [{ topic: 't', partition: 0, offsets: [0] }, { topic: 't', partition: 1, offsets: [9] }]), /never acquired/);
  assert.equal(c.describe('g').acked, 0);
  assert.throws(() => c.ack('g', 'w', [{ topic: 'nope', partition: 0, offsets: [0] }]), (e: unknown) => (e as { code: string }).code === 'INVALID_RECORD_STATE');
  assert.throws(() => c.ack('zz', 'w', []), (e: unknown) => (e as { code: string }).code === 'GROUP_ID_NOT_FOUND');
  assert.throws(() => c.configure('g', { maxDeliveries: 0 }), (e: unknown) => (e as { code: string }).code === 'INVALID_CONFIG');
  assert.throws(() => c.configure('g', { retryBackoffMs: 10, retryBackoffMaxMs: 5 }), /retryBackoffMaxMs/);
});

test('reject and maxDeliveries produce dead letters whose records carry the DLQ headers', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  c.configure('g', { maxDeliveries: 2, retryBackoffMs: 0, visibilityTimeoutMs: 100 });
  c.acquire('g', 'w', one(2), 2);
  const rejected = c.reject('g', 'w', [{ topic: 't', partition: 0, offsets: [0] }], 'cannot parse');
  clock.t += 100;
  assert.deepEqual(c.tick(), []);
  c.acquire('g', 'w', one(2), 2);
  clock.t += 100;
  const expired = c.tick();
  assert.equal(expired.length, 1);
  assert.deepEqual({ ...expired[0] }, { group: 'g', topic: 't', partition: 0, offset: 1, deliveryCount: 2, cause: 'max-deliveries', reason: 'lock expired', deadLetterTopic: 't.dlq' });

  const original = decodeBatch(encodeBatch([{ key: 'k', value: 'payload', headers: [{ key: 'trace', value: 'abc' }, { key: 'sluice.dlq.offset', value: '99' }], timestamp: 1234 }], { now: 1 })).records[0];
  const rec = deadLetterRecord(original, rejected[0]);
  const back = decodeBatch(encodeBatch([rec])).records[0];
  assert.equal(back.key!.toString(), 'k');
  assert.equal(back.value!.toString(), 'payload');
  assert.equal(back.timestamp, 1234);
  assert.equal(back.headers[0].key, 'trace');
  assert.equal(back.headers.filter((h) => h.key === 'sluice.dlq.offset').length, 1, 'old dlq headers replaced');
  assert.deepEqual(readDeadLetterHeaders(back.headers), {
    group: 'g', topic: 't', partition: '0', offset: '0', deliveryCount: '1', cause: 'rejected', reason: 'cannot parse',
  });
  let d = c.describe('g');
  assert.equal(d.deadLettered, 0, 'archived only once the copies are written');
  assert.equal(d.inFlight, 2, 'held by the dead-letter writer');
  assert.ok(c.awaitingDeadLetter(rejected[0]));
  assert.equal(c.deadLettersWritten([...rejected, ...expired]), 2);
  assert.ok(!c.awaitingDeadLetter(rejected[0]));
  d = c.describe('g');
  assert.equal(d.deadLettered, 2);
  assert.equal(d.inFlight + d.available, 0);
});

test('describe: available, in flight, acked, dead-lettered, oldest unacked age; list groups', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  c.acquire('b', 'w', one(10), 4);
  clock.t += 2_500;
  c.acquire('a', 'w', one(10), 1);
  c.ack('b', 'w', [{ topic: 't', partition: 0, offsets: [1, 2] }]);
  const d = c.describe('b');
  assert.deepEqual([d.available, d.inFlight, d.acked, d.deadLettered, d.oldestUnackedMs], [6, 2, 2, 0, 2_500]);
  assert.equal(d.partitions[0].backlog, 6);
  assert.deepEqual(c.groups(), ['a', 'b']);
  c.leave('b', 'w');
  assert.equal(c.describe('b').inFlight, 0);
  assert.throws(() => c.describe('zz'), /no share group/);
});

test('oldest unacked age: from the first delivery of the oldest record in flight; 0 while none is in flight, however long jobs wait', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  const tgt = (offsets: number[]) => [{ topic: 't', partition: 0, offsets }];
  c.configure('g', { retryBackoffMs: 60_000 });
  c.acquire('g', 'w', one(10), 2); // 0, 1 enter the window now
  clock.t += 1_000;
  c.acquire('g', 'w', one(10), 2); // 2, 3 a second later
  clock.t += 4_000;
  assert.equal(c.describe('g').oldestUnackedMs, 5_000);
  c.ack('g', 'w', tgt([0]));
  assert.equal(c.describe('g').oldestUnackedMs, 5_000, '1 is still in flight since the first acquire');
  c.ack('g', 'w', tgt([1]));
  assert.equal(c.describe('g').oldestUnackedMs, 4_000);
  c.release('g', 'w', tgt([2, 3]), { reason: 'boom' }); // back off for a minute: none in flight
  clock.t += 56_000;
  const idle = c.describe('g');
  assert.deepEqual([idle.inFlight, idle.available, idle.oldestUnackedMs], [0, 8, 0]);
  clock.t += 4_000;
  c.acquire('g', 'w', one(10), 1); // 2 again: its age counts from its first delivery
  assert.equal(c.describe('g').oldestUnackedMs, 64_000);
});

test('oldest unacked age counts from a record\'s first real delivery, not from when it entered the window: a delayed job, a prefetch given back unstarted, records a cancel took in', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  const tgt = (offsets: number[]) => [{ topic: 't', partition: 0, offsets }];
  // A delayed job: taken at 0 s, given back until its delivery time (10 min), delivered then.
  c.acquire('g', 'w', one(1), 1);
  c.delay('g', 'w', 't', 0, [[0, clock.t + 600_000]]);
  assert.equal(c.describe('g').inFlight, 0);
  clock.t += 600_000;
  assert.equal(c.acquire('g', 'w', one(1), 1).length, 1);
  clock.t += 2_000;
  assert.equal(c.describe('g').oldestUnackedMs, 2_000, 'delivered 2 s ago, though it entered the window 10 min ago');
  c.ack('g', 'w', tgt([0]));
  // A worker's prefetch given back unstarted (it closed), taken by another worker a minute later.
  c.acquire('g', 'w', one(3), 2); // 1, 2
  c.release('g', 'w', tgt([1, 2]), { kind: 'unstarted' });
  clock.t += 60_000;
  c.acquire('g', 'v', one(3), 1); // 1
  clock.t += 3_000;
  assert.equal(c.describe('g').oldestUnackedMs, 3_000, 'its only delivery that counts was 3 s ago');
  c.ack('g', 'v', tgt([1]));
  // A cancel of offset 5 takes 3 and 4 into the window untaken; they are delivered 30 s later.
  c.cancel('g', one(6)[0], [5]);
  clock.t += 30_000;
  c.acquire('g', 'v', one(6), 3); // 2, 3, 4
  clock.t += 1_000;
  assert.equal(c.describe('g').oldestUnackedMs, 1_000);
  // A failed attempt does not make a record younger: its age still counts from its first delivery.
  c.release('g', 'v', tgt([2]), { delayMs: 0 });
  clock.t += 5_000;
  c.acquire('g', 'v', one(6), 1); // 2 again
  assert.equal(c.describe('g').oldestUnackedMs, 6_000);
});

test('startFrom latest begins at the log end', () => {
  const c = new ShareCoordinator({ clock: new ManualClock(), defaults: { startFrom: 'latest' } });
  assert.equal(countOf(c.acquire('g', 'w', one(10), 5)), 0);
  assert.deepEqual(offsetsOf(c.acquire('g', 'w', one(12), 5)[0].ranges), [10, 11]);
});

test('resetOffsets: refused while workers are in it; moves the start back (acked records come again, count 1) or forward; totals stay', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  const got = c.acquire('g', 'w', one(10), 10);
  c.ack('g', 'w', [{ topic: 't', partition: 0, offsets: offsetsOf(got[0].ranges) }]);
  assert.throws(() => c.resetOffsets('g', [{ topic: 't', partition: 0, offset: 0 }]), (e: Error & { code?: string }) => e.code === 'NON_EMPTY_GROUP');
  c.leave('g', 'w');
  c.drainChanges();
  assert.throws(() => c.resetOffsets('g', [{ topic: 't', partition: 0, offset: -1 }]), (e: Error & { code?: string }) => e.code === 'INVALID_REQUEST');

  assert.deepEqual(c.resetOffsets('g', [{ topic: 't', partition: 0, offset: 4 }]), [{ topic: 't', partition: 0, from: 10, to: 4 }]);
  const [u] = c.drainChanges().updates;
  assert.equal(u.replace, true, 'the state log must replace the old window, not add to it');
  assert.equal(u.startOffset, 4);
  assert.equal(c.describe('g').acked, 10, 'totals are counters: a reset does not take them back');
  const again = c.acquire('g', 'w2', one(10), 100);
  assert.deepEqual(offsetsOf(again[0].ranges), [4, 5, 6, 7, 8, 9]);
  assert.ok(again[0].ranges.every((r) => r.deliveryCount === 1));
  c.leave('g', 'w2');

  assert.deepEqual(c.resetOffsets('g', [{ topic: 't', partition: 0, offset: 10 }]), [{ topic: 't', partition: 0, from: 4, to: 10 }]);
  assert.equal(countOf(c.acquire('g', 'w3', one(10), 100)), 0, 'moved forward past everything');
  // An unknown group is created (placed before its first worker), an unread partition reports from -1.
  assert.deepEqual(c.resetOffsets('new', [{ topic: 't', partition: 0, offset: 7 }]), [{ topic: 't', partition: 0, from: -1, to: 7 }]);
  assert.deepEqual(offsetsOf(c.acquire('new', 'w', one(10), 100)[0].ranges), [7, 8, 9]);
});

test('deleteGroup: refused while workers are in it, then forgets every record state; a later worker starts a new group', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  c.configure('g', { maxDeliveries: 7 });
  const got = c.acquire('g', 'w', one(10), 10);
  c.ack('g', 'w', [{ topic: 't', partition: 0, offsets: offsetsOf(got[0].ranges).slice(0, 6) }]);
  assert.throws(() => c.deleteGroup('g'), (e: Error & { code?: string }) => e.code === 'NON_EMPTY_GROUP' && /1 worker/.test(e.message));
  assert.throws(() => c.deleteGroup('nope'), (e: Error & { code?: string }) => e.code === 'GROUP_ID_NOT_FOUND');
  c.leave('g', 'w');
  c.drainChanges();
  c.deleteGroup('g');
  assert.deepEqual(c.groups(), []);
  assert.throws(() => c.describe('g'), (e: Error & { code?: string }) => e.code === 'GROUP_ID_NOT_FOUND');
  assert.deepEqual(c.drainChanges().deleted, ['g']);
  assert.deepEqual(c.drainChanges().deleted, [], 'reported once');
  // A new group of the same name: defaults, every record again, first delivery.
  const again = c.acquire('g', 'w2', one(10), 100);
  assert.equal(countOf(again), 10);
  assert.ok(again[0].ranges.every((r) => r.deliveryCount === 1));
  assert.equal(c.group('g')!.config.maxDeliveries, c.defaults.maxDeliveries);
});

test('a dead-letter topic must be a legal, non-internal topic name, when a group is created and when its config changes', () => {
  const c = new ShareCoordinator({ clock: new ManualClock() });
  const refused = ['__consumer_offsets-0', '__share_state-0', '__x', '', '.', '../up', 'a b', 'x'.repeat(250), 42];
  const isRefusal = (e: unknown) => (e as { code: string }).code === 'INVALID_CONFIG' && /deadLetterTopic/.test((e as Error).message);
  for (const t of refused) {
    assert.throws(() => c.configure(`new-${String(t)}`, { deadLetterTopic: t as string }), isRefusal, `create with ${String(t)}`);
    assert.equal(c.group(`new-${String(t)}`), undefined, 'no group is created');
  }
  c.configure('g', { deadLetterTopic: 'jobs.failed', maxDeliveries: 2 });
  for (const t of refused) assert.throws(() => c.configure('g', { deadLetterTopic: t as string }), isRefusal, `change to ${String(t)}`);
  assert.equal(c.group('g')!.config.deadLetterTopic, 'jobs.failed', 'a refused change leaves the config as it was');
  assert.equal(c.configure('g', { deadLetterTopic: null }).deadLetterTopic, null, 'null (= <topic>.dlq) is allowed');
});

test('progress extends the lock as extend does and shows with the held job; it goes when the record leaves its holder', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  c.configure('g', { visibilityTimeoutMs: 1000, retryBackoffMs: 0 });
  c.acquire('g', 'w1', one(2), 2);
  clock.t += 900;
  assert.equal(c.progress('g', 'w1', 't', 0, 0, '{"pct":40}'), clock.t + 1000);
  clock.t += 900; // 1800 ms after the acquisition: only the reported job is still held
  c.tick();
  const jobs = c.heldJobs('g', 10);
  assert.deepEqual(jobs.map((j) => [j.offset, j.workerId, j.deliveryCount, j.progress, j.progressAt]), [[0, 'w1', 1, '{"pct":40}', clock.t - 900]]);
  assert.equal(jobs[0].since, clock.t - 1800);
  assert.throws(() => c.progress('g', 'w1', 't', 0, 1, '1'), /not acquired/, 'a record whose lock ran out takes no progress');
  c.release('g', 'w1', [{ topic: 't', partition: 0, offsets: [0] }], { delayMs: 0 });
  c.acquire('g', 'w2', one(2), 2);
  assert.deepEqual(c.heldJobs('g', 10).map((j) => [j.offset, j.workerId, j.progress]), [[0, 'w2', undefined], [1, 'w2', undefined]]);
});

test('group-wide rate limit: all workers together get at most rateLimit per second, a burst of one second, tokens refill with time', () => {
  const clock = new ManualClock();
  const limited: string[] = [];
  const c = new ShareCoordinator({ clock, onLimited: (g, l) => limited.push(`${g}:${l}`) });
  c.configure('g', { rateLimit: 10 });
  let got = 0;
  for (let w = 0; w < 4; w++) got += countOf(c.acquire('g', `w${w}`, one(1000), 8));
  assert.equal(got, 10, 'the first second: one bucket for the whole group');
  assert.deepEqual(limited, ['g:rate', 'g:rate', 'g:rate'], 'each cut is counted');
  assert.ok(c.nextWakeAt() <= clock.t + 100, 'the broker is told when a token comes back');
  clock.t += 300;
  got = 0;
  for (let w = 0; w < 4; w++) got += countOf(c.acquire('g', `w${w}`, one(1000), 8));
  assert.equal(got, 3, '300 ms refill 3 tokens');
  clock.t += 10_000;
  assert.equal(countOf(c.acquire('g', 'w0', one(1000), 100)), 10, 'the bucket holds one second at most');
});

test('group-wide concurrency limit: the whole group holds at most maxInFlight; settling frees slots; alter applies at once', () => {
  const clock = new ManualClock();
  const c = new ShareCoordinator({ clock });
  c.configure('g', { maxInFlight: 5 });
  const a = c.acquire('g', 'a', one(100), 4);
  const b = c.acquire('g', 'b', one(100), 4);
  assert.equal(countOf(a) + countOf(b), 5);
  assert.equal(countOf(c.acquire('g', 'c', one(100), 4)), 0);
  c.ack('g', 'a', [{ topic: 't', partition: 0, offsets: offsetsOf(a[0].ranges).slice(0, 2) }]);
  assert.equal(countOf(c.acquire('g', 'c', one(100), 4)), 2);
  c.configure('g', { maxInFlight: 0 });
  assert.equal(countOf(c.acquire('g', 'c', one(100), 4)), 4, 'limit lifted');
});
