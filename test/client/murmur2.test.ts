import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2, toPositive } from '../../src/client/murmur2.js';
import { StickyPartitioner, partitionForKey } from '../../src/client/partitioner.js';

// Vectors from Kafka's UtilsTest.testMurmur2 (clients/src/test/.../utils/UtilsTest.java).
const VECTORS: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test('murmur2 matches Kafka UtilsTest vectors', () => {
  for (const [s, want] of VECTORS) assert.equal(murmur2(Buffer.from(s)), want, s);
});

test('murmur2 covers every tail length and the empty key', () => {
  // Each tail length (0..3) must give a distinct 32-bit signed result.
  const seen = new Set<number>();
  for (const s of ['', 'a', 'ab', 'abc', 'abcd']) {
    const h = murmur2(Buffer.from(s));
    assert.ok(Number.isInteger(h) && h >= -(2 ** 31) && h < 2 ** 31);
    seen.add(h);
  }
  assert.equal(seen.size, 5);
});

test('toPositive clears the sign bit like Kafka (not abs)', () => {
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(-(2 ** 31)), 0);
  assert.equal(toPositive(5), 5);
});

test('key -> partition is Kafka default partitioner and stable', () => {
  assert.equal(partitionForKey('foobar', 10), toPositive(-790332482) % 10);
  assert.equal(partitionForKey('21', 7), toPositive(-973932308) % 7);
  for (let i = 0; i < 200; i++) {
    const k = `key-${i}`;
    assert.equal(partitionForKey(k, 12), partitionForKey(Buffer.from(k), 12));
  }
});

test('sticky partitioner keeps one partition until its batch closes, then moves', () => {
  let r = 0;
  const rand = () => [0.1, 0.9, 0.5, 0.3][r++ % 4];
  const sp = new StickyPartitioner(rand);
  const first = sp.current('t', 4);
  for (let i = 0; i < 10; i++) assert.equal(sp.current('t', 4), first);
  sp.batchClosed('t', first, 4);
  const second = sp.current('t', 4);
  assert.notEqual(second, first);
  // closing a batch of a partition that is no longer sticky changes nothing
  sp.batchClosed('t', first, 4);
  assert.equal(sp.current('t', 4), second);
  // a single partition stays put
  const one = new StickyPartitioner();
  assert.equal(one.current('u', 1), 0);
  one.batchClosed('u', 0, 1);
  assert.equal(one.current('u', 1), 0);
});
