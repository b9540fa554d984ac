import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicationQuota } from '../../src/replication/replication-quota.js';

test('the reassignment throttle holds throttled fetches back until the bytes are paid for at its rate, and builds no credit while idle', () => {
  let now = 0;
  const q = new ReplicationQuota(1000, () => now);
  assert.equal(q.delayMs(), 0);
  q.record(2500);
  assert.equal(q.delayMs(), 2500, '2500 bytes at 1000 B/s');
  now = 1000;
  assert.equal(q.delayMs(), 1500);
  now = 60_000;
  assert.equal(q.delayMs(), 0);
  q.record(500);
  assert.equal(q.delayMs(), 500, 'a minute idle bought no credit');
});

test('the throttle counts the bytes it charged and the time it held replicas back (the reassignment throttle metric)', () => {
  let now = 0;
  const q = new ReplicationQuota(1000, () => now);
  assert.deepEqual(q.stats(), { bytes: 0, waitedMs: 0 });
  q.record(2500);
  now = 1000;
  assert.deepEqual(q.stats(), { bytes: 2500, waitedMs: 1000 }, 'still in debt after 1 s: 1 s waited so far');
  now = 60_000;
  assert.deepEqual(q.stats(), { bytes: 2500, waitedMs: 2500 }, 'the debt was paid after 2.5 s: idle time after that is not waiting');
  q.record(500);
  now = 60_200;
  assert.deepEqual(q.stats(), { bytes: 3000, waitedMs: 2700 });
});
