import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharePartition } from '../../src/queue/share-partition.js';
import { InvalidRecordStateError } from '../../src/queue/errors.js';
import { DEFAULT_SHARE_GROUP_CONFIG, RecordState, backoffMs, type ShareGroupConfig } from '../../src/queue/types.js';
import { offsetsOf } from './helpers.js';

function part(over: Partial<ShareGroupConfig> = {}, start = 0): SharePartition {
  const cfg = { ...DEFAULT_SHARE_GROUP_CONFIG, ...over };
  return new SharePartition('g', 't', 0, () => cfg, start);
}

test('acquire hands out each record once, lowest offsets first, with delivery count 1', () => {
  const p = part();
  const a = p.acquire(1, 3, 0, 10);
  const b = p.acquire(2, 3, 0, 10);
  assert.deepEqual(a, [{ firstOffset: 0, lastOffset: 2, deliveryCount: 1 }]);
  assert.deepEqual(offsetsOf(b), [3, 4, 5]);
  assert.equal(p.inFlight, 6);
  assert.deepEqual(p.acquire(3, 10, 0, 10).map((r) => [r.firstOffset, r.lastOffset]), [[6, 9]]);
  assert.deepEqual(p.acquire(3, 10, 0, 10), [], 'nothing left');
});

test('ownership: a worker settles only records it holds; a bad request applies nothing', () => {
  const p = part();
  p.acquire(1, 2, 0, 10); // 0,1
  p.acquire(2, 2, 0, 10); // 2,3
  assert.throws(() => p.ack(2, [0]), (e: unknown) => e instanceof InvalidRecordStateError && e.code === 'INVALID_RECORD_STATE' && /another worker/.test(e.message));
  assert.throws(() => p.ack(1, [0, 5]), /never acquired/);
  assert.equal(p.stateOf(0), RecordState.ACQUIRED, 'the valid offset in the refused request was not acked');
  assert.throws(() => p.release(1, [0, 0], 0), /listed twice/);
  // Increasing offsets skip the duplicate check's Set; any other order still gets it.
  assert.throws(() => p.ack(1, [0, 1, 1]), /listed twice/);
  assert.throws(() => p.ack(1, [1, 0, 1]), /listed twice/);
  assert.equal(p.stateOf(1), RecordState.ACQUIRED, 'a request with a duplicate acked nothing');
  p.ack(1, [0, 1]);
  assert.throws(() => p.ack(1, [0]), /already settled/);
  assert.throws(() => p.extend(1, [2], 0), /another worker/);
  assert.throws(() => p.reject(1, [2]), InvalidRecordStateError);
  p.release(2, [2], 0, 0);
  assert.throws(() => p.ack(2, [2]), /not acquired/);
});

test('a lock that expires makes the record available again; it is redelivered with delivery count 2', () => {
  const p = part({ visibilityTimeoutMs: 1000, retryBackoffMs: 0 });
  p.acquire(1, 1, 0, 1);
  assert.deepEqual(p.expire(999).expired, []);
  const r = p.expire(1000);
  assert.deepEqual(r.expired, [0]);
  assert.throws(() => p.ack(1, [0]), /not acquired/, 'the old worker can no longer ack');
  assert.deepEqual(p.acquire(2, 5, 1000, 1), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 2 }]);
  p.ack(2, [0]);
  assert.equal(p.startOffset, 1);
  assert.equal(p.redeliveries, 1);
});

test('extend pushes the deadline', () => {
  const p = part({ visibilityTimeoutMs: 1000 });
  p.acquire(1, 1, 0, 1);
  assert.equal(p.extend(1, [0], 900), 1900);
  assert.deepEqual(p.expire(1500).expired, []);
  assert.deepEqual(p.extend(1, [0], 1500, 5000), 6500);
  assert.deepEqual(p.expire(6500).expired, [0]);
});

test('backoff grows exponentially per failed attempt and caps at retryBackoffMaxMs', () => {
  const cfg = { retryBackoffMs: 100, retryBackoffMaxMs: 1000, maxDeliveries: 50, visibilityTimeoutMs: 10 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 40].map((n) => backoffMs(cfg, n)), [100, 200, 400, 800, 1000, 1000, 1000]);
  const p = part(cfg);
  let now = 0;
  const waits: number[] = [];
  p.acquire(1, 1, now, 1);
  for (let attempt = 1; attempt <= 6; attempt++) {
    p.release(1, [0], now);
    // Find the first ms at which it can be acquired again.
    const from = now;
    while (p.acquire(1, 1, now, 1).length === 0) now += 1;
    waits.push(now - from);
  }
  assert.deepEqual(waits, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(p.deliveryCountOf(0), 7);
});

test('release with an explicit delay overrides the backoff; delay 0 is immediate', () => {
  const p = part({ retryBackoffMs: 10_000, retryBackoffMaxMs: 10_000 });
  p.acquire(1, 2, 0, 2);
  p.release(1, [0], 0, 0);
  p.release(1, [1], 0, 50);
  assert.deepEqual(offsetsOf(p.acquire(2, 5, 0, 2)), [0]);
  assert.deepEqual(offsetsOf(p.acquire(2, 5, 49, 2)), []);
  assert.deepEqual(offsetsOf(p.acquire(2, 5, 50, 2)), [1]);
});

test('a delayed record does not block later ones', () => {
  const p = part({ retryBackoffMs: 1000, retryBackoffMaxMs: 1000 });
  p.acquire(1, 1, 0, 5);
  p.release(1, [0], 0);
  assert.deepEqual(offsetsOf(p.acquire(2, 2, 1, 5)), [1, 2]);
  assert.deepEqual(p.describe(1).delayed, 1);
});

test('reject dead-letters with cause rejected, archives once the copy is written; never delivered again', () => {
  const p = part({ visibilityTimeoutMs: 10 });
  p.acquire(1, 3, 0, 3);
  const dl = p.reject(1, [1], 'bad json');
  assert.deepEqual(dl, [{ group: 'g', topic: 't', partition: 0, offset: 1, deliveryCount: 1, cause: 'rejected', reason: 'bad json', deadLetterTopic: 't.dlq' }]);
  p.release(1, [0, 2], 0, 0);
  // Waiting for its copy: held by the dead-letter writer, not archived, not handed out, no lock expiry.
  assert.equal(p.stateOf(1), RecordState.ACQUIRED);
  assert.ok(p.awaitingDeadLetter(1));
  assert.deepEqual(p.expire(1_000_000).expired, []);
  assert.deepEqual(offsetsOf(p.acquire(2, 10, 1_000_000, 3)), [0, 2]);
  assert.equal(p.describe(0).deadLettered, 0);
  assert.throws(() => p.ack(1, [1]), /waiting for its dead-letter copy/);
  assert.equal(p.deadLettersWritten([1]), 1);
  assert.equal(p.stateOf(1), RecordState.ARCHIVED);
  assert.equal(p.describe(0).deadLettered, 1);
  assert.equal(p.deadLettersWritten([1]), 0, 'archived once');
});

test('a record waiting for its dead-letter copy is persisted as available plus its hold (cause, reason): a restore holds it again', () => {
  const p = part({ maxDeliveries: 1 });
  p.acquire(1, 1, 0, 1);
  p.drainUpdate();
  assert.equal(p.release(1, [0], 0, undefined, 'x'.repeat(5000)).length, 1);
  const u = p.drainUpdate()!;
  // AVAILABLE in the runs: what a broker that predates holds reads (it delivers the record again).
  assert.deepEqual(u.runs, [{ first: 0, last: 0, state: RecordState.AVAILABLE, deliveryCount: 1 }]);
  assert.deepEqual(u.deadLettering, [{ offset: 0, cause: 'max-deliveries', reason: 'x'.repeat(1024) }], 'the reason as the copy would cut it');
  assert.deepEqual(p.snapshotRuns(), [{ first: 0, last: 0, state: RecordState.AVAILABLE, deliveryCount: 1 }]);
  assert.deepEqual(p.heldDeadLetters(), u.deadLettering);

  const q = part({ maxDeliveries: 1 });
  q.restore(0, u.runs, u.deadLettering);
  assert.ok(q.awaitingDeadLetter(0));
  assert.deepEqual(q.acquire(2, 10, 0, 1), [], 'never handed out');
  assert.equal(q.describe(0).inFlight, 1);
  assert.deepEqual(q.deadLettersToResume().map((d) => [d.offset, d.cause, d.deliveryCount]), [[0, 'max-deliveries', 1]]);
  // A later run of the record replaces the hold.
  q.restore(0, [{ first: 0, last: 0, state: RecordState.ARCHIVED, deliveryCount: 1 }]);
  assert.deepEqual([q.describe(0).inFlight, q.deadLettersToResume().length, q.startOffset], [0, 0, 1]);

  p.deadLettersWritten([0]);
  const archived = p.drainUpdate()!;
  assert.deepEqual(archived.runs, [{ first: 0, last: 0, state: RecordState.ARCHIVED, deliveryCount: 1 }]);
  assert.equal(archived.deadLettering, undefined);
});

test('a record held and archived between two drains is written without a hold', () => {
  const p = part({});
  p.acquire(1, 1, 0, 1);
  p.deadLettersWritten(p.reject(1, [0]).map((d) => d.offset));
  const u = p.drainUpdate()!;
  assert.equal(u.deadLettering, undefined);
  assert.equal(u.runs[u.runs.length - 1]!.state, RecordState.ARCHIVED);
});

test('after maxDeliveries failed attempts the record is dead-lettered (expiry, release, worker gone alike)', () => {
  const p = part({ maxDeliveries: 3, retryBackoffMs: 0, visibilityTimeoutMs: 10, deadLetterTopic: 'graveyard' });
  p.acquire(1, 1, 0, 1);
  assert.deepEqual(p.release(1, [0], 0, 0, 'db down'), []);
  p.acquire(2, 1, 0, 1);
  assert.deepEqual(p.workerGone(2, 0).expired, [0]);
  p.acquire(3, 1, 0, 1);
  const r = p.expire(10);
  assert.deepEqual(r.deadLetters, [{ group: 'g', topic: 't', partition: 0, offset: 0, deliveryCount: 3, cause: 'max-deliveries', reason: 'lock expired', deadLetterTopic: 'graveyard' }]);
  assert.deepEqual(p.acquire(4, 1, 100, 1), []);
  assert.equal(p.startOffset, 0, 'not archived before its copy is written');
  assert.equal(p.inFlight, 1);
  p.deadLettersWritten([0]);
  assert.equal(p.startOffset, 1);
  assert.equal(p.inFlight, 0);
});

test('memory stays bounded: the start offset advances and the arrays do not grow with history', () => {
  const p = part({ maxWindow: 1000 });
  let now = 0;
  for (let round = 0; round < 200; round++) {
    const got = offsetsOf(p.acquire(1, 500, now, 1_000_000));
    // Ack out of order, leaving the first one for a round (a slow record holds the start back).
    p.ack(1, got.slice(1));
    p.ack(1, got.slice(0, 1));
    now++;
  }
  assert.equal(p.startOffset, 100_000);
  assert.equal(p.endOffset, 100_000);
  assert.ok(p.capacity <= 1024, `capacity ${p.capacity}`);
  // A stuck record pins the start: the window stops at maxWindow instead of growing.
  p.acquire(2, 1, now, 1_000_000);
  for (let i = 0; i < 20; i++) p.ack(1, offsetsOf(p.acquire(1, 500, now, 1_000_000)));
  assert.equal(p.startOffset, 100_000);
  assert.equal(p.endOffset, 101_000, 'window capped at maxWindow');
  assert.ok(p.capacity <= 2048, `capacity ${p.capacity}`);
  p.ack(2, [100_000]);
  assert.equal(p.startOffset, 101_000);
});

test('log retention moving the log start skips deleted records', () => {
  const p = part();
  p.acquire(1, 5, 0, 10);
  assert.deepEqual(offsetsOf(p.acquire(2, 3, 0, 10, 7)), [7, 8, 9]);
  assert.equal(p.startOffset, 7);
  assert.equal(p.inFlight, 3);
  assert.throws(() => p.ack(1, [3]), /already settled/);
});

test('drainUpdate reports acquisitions as available-with-count and settles as final states', () => {
  const p = part();
  p.acquire(1, 3, 0, 3);
  p.ack(1, [0, 2]);
  const u = p.drainUpdate()!;
  assert.equal(u.startOffset, 1);
  assert.deepEqual(u.runs, [
    { first: 0, last: 2, state: RecordState.AVAILABLE, deliveryCount: 1 },
    { first: 0, last: 0, state: RecordState.ACKED, deliveryCount: 1 },
    { first: 2, last: 2, state: RecordState.ACKED, deliveryCount: 1 },
  ]);
  assert.equal(p.drainUpdate(), null);
});

test('release kind unstarted takes the acquisition back: no attempt counted, available at once, never dead-lettered', () => {
  const p = part({ maxDeliveries: 2, retryBackoffMs: 1000 });
  // Far more give-backs than maxDeliveries allows attempts: none of them counts.
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(p.acquire(1, 1, 0, 1), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 1 }], `round ${i}: still a first delivery`);
    assert.deepEqual(p.release(1, [0], 0, undefined, 'worker closing', 'unstarted'), [], 'not dead-lettered');
    assert.equal(p.deliveryCountOf(0), 0);
  }
  assert.equal(p.inFlight, 0);
  assert.equal(p.redeliveries, 0, 'a give-back is not a redelivery');
  assert.equal(p.deadLettered, 0);
});

test('release kinds: a failed release counts and backs off; an unstarted one after it keeps the failed attempt', () => {
  const p = part({ maxDeliveries: 2, retryBackoffMs: 1000 });
  p.acquire(1, 1, 0, 1);
  assert.deepEqual(p.release(1, [0], 0, undefined, 'boom', 'failed'), []); // attempt 1 failed
  assert.deepEqual(p.acquire(2, 1, 999, 1), [], 'backoff applies to a failed attempt');
  assert.deepEqual(p.acquire(2, 1, 1000, 1), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 2 }]);
  p.release(2, [0], 1000, undefined, 'worker closing', 'unstarted'); // not started: count back to 1
  assert.equal(p.deliveryCountOf(0), 1);
  assert.deepEqual(p.acquire(3, 1, 1000, 1), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 2 }], 'no backoff after a give-back; same attempt number');
  assert.equal(p.redeliveries, 1, 'one redelivery, however often it was taken and given back');
  // This attempt is the last one allowed: failing it dead-letters with 2 attempts made.
  const dead = p.release(3, [0], 1000, undefined, 'boom again');
  assert.deepEqual(dead.map((d) => [d.cause, d.deliveryCount, d.reason]), [['max-deliveries', 2, 'boom again']]);
});

test('a lock that expires while held still counts, prefetched or not', () => {
  const p = part({ maxDeliveries: 1, visibilityTimeoutMs: 1000 });
  p.acquire(1, 1, 0, 1);
  const r = p.expire(1000);
  assert.deepEqual(r.deadLetters.map((d) => [d.cause, d.reason]), [['max-deliveries', 'lock expired']]);
});

test('an unstarted release is recorded for the state log with the lowered count', () => {
  const p = part();
  p.acquire(1, 3, 0, 3);
  p.drainUpdate();
  p.release(1, [1], 0, undefined, undefined, 'unstarted');
  assert.deepEqual(p.drainUpdate()?.runs, [{ first: 1, last: 1, state: RecordState.AVAILABLE, deliveryCount: 0 }]);
});

test('delay: a record taken before its delivery time waits for it, not counted as an attempt, and the ones behind it go out', () => {
  const p = part();
  assert.deepEqual(offsetsOf(p.acquire(1, 3, 0, 3)), [0, 1, 2]);
  assert.equal(p.delay(1, [[1, 5000]]), 1);
  assert.equal(p.stateOf(1), RecordState.AVAILABLE);
  assert.equal(p.deliveryCountOf(1), 0, 'the take is undone');
  assert.equal(p.inFlight, 2);
  assert.equal(p.dueDeadline, 5000, 'the broker is told when to look again');
  assert.equal(p.describe(100).delayed, 1);
  p.ack(1, [0, 2]);
  assert.deepEqual(p.acquire(2, 10, 4999, 3), [], 'not before its time');
  assert.equal(p.startOffset, 1, 'the waiting record pins the window start');
  p.refreshDue(5000);
  assert.deepEqual(p.acquire(2, 10, 5000, 3), [{ firstOffset: 1, lastOffset: 1, deliveryCount: 1 }], 'first delivery at its time');
  assert.equal(p.redeliveries, 0);
});
