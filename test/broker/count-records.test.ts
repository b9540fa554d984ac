import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/record/index.js';
import { countRecords } from '../../src/broker/count-records.js';

const batch = (n: number) => encodeBatch(Array.from({ length: n }, (_, i) => ({ value: `v${i}` })));

test('countRecords sums records over concatenated batches from headers', () => {
  assert.equal(countRecords(Buffer.alloc(0)), 0);
  assert.equal(countRecords(batch(1)), 1);
  assert.equal(countRecords(Buffer.concat([batch(3), batch(1000), batch(7)])), 1010);
});

test('countRecords stops at a truncated or malformed tail instead of throwing', () => {
  const whole = Buffer.concat([batch(4), batch(5)]);
  assert.equal(countRecords(whole.subarray(0, whole.length - 1)), 4);
  assert.equal(countRecords(whole.subarray(0, batch(4).length + 10)), 4);
  const bad = Buffer.from(whole);
  bad.writeInt32BE(-100, batch(4).length + BATCH_LENGTH_OFFSET);
  assert.equal(countRecords(bad), 4);
});

const BATCH_LENGTH_OFFSET = 8;
