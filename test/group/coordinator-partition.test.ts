import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coordinatorPartition, javaStringHash } from '../../src/group/coordinator-partition.js';

/** The definition, s[0]*31^(n-1) + ... + s[n-1] wrapped to a signed 32-bit integer, in BigInt. */
function byDefinition(s: string): number {
  let h = 0n;
  for (let i = 0; i < s.length; i++) h += BigInt(s.charCodeAt(i)) * 31n ** BigInt(s.length - 1 - i);
  return Number(BigInt.asIntN(32, h));
}

test("javaStringHash is Java's String.hashCode", () => {
  assert.equal(javaStringHash(''), 0);
  assert.equal(javaStringHash('a'), 97);
  assert.equal(javaStringHash('hello'), 99162322);
  // Overflows to negative: "Aa"/"BB" collide (2112), and a long id wraps around 32 bits.
  assert.equal(javaStringHash('Aa'), javaStringHash('BB'));
  for (const s of ['consumer-group-with-a-long-name', 'g', 'orders-eu-west-1', 'ü-gruppe', 'x'.repeat(200)]) {
    assert.equal(javaStringHash(s), byDefinition(s), s);
  }
  // From a JVM ("...".hashCode()): a long id wraps to negative.
  assert.equal(javaStringHash('consumer-group-with-a-long-name'), -1157546098);
  assert.equal(javaStringHash('ü-gruppe'), 1147213612);
  // The one string famous for hashing to Integer.MIN_VALUE.
  assert.equal(javaStringHash('polygenelubricants'), -2147483648);
});

test("coordinatorPartition is Kafka's abs(hashCode) % partitions, in range, the same for every caller", () => {
  assert.equal(coordinatorPartition('hello', 50), 99162322 % 50);
  const h = javaStringHash('consumer-group-with-a-long-name');
  assert.equal(coordinatorPartition('consumer-group-with-a-long-name', 12), -h % 12);
  // Kafka's Utils.abs maps MIN_VALUE to 0 (Math.abs would stay negative in Java).
  assert.equal(coordinatorPartition('polygenelubricants', 7), 0);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const p = coordinatorPartition(`group-${i}`, 12);
    assert.ok(Number.isInteger(p) && p >= 0 && p < 12, `group-${i} -> ${p}`);
    seen.add(p);
  }
  assert.equal(seen.size, 12, 'groups spread over every partition');
  assert.throws(() => coordinatorPartition('g', 0), /positive integer/);
});
