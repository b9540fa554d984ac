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
