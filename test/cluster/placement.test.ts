import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidReplicationFactorError, placeReplicas } from '../../src/cluster/placement.js';

const layout = fc.record({
  brokers: fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 12 }),
  partitions: fc.integer({ min: 1, max: 200 }),
  rfWish: fc.integer({ min: 1, max: 5 }),
  startIndex: fc.nat(),
  replicaShift: fc.nat(),
});

test('every partition gets replication-factor distinct live brokers, and leaders are balanced', () => {
  fc.assert(fc.property(layout, ({ brokers, partitions, rfWish, startIndex, replicaShift }) => {
    const n = brokers.length;
    const rf = Math.min(rfWish, n);
    const placed = placeReplicas(brokers, partitions, rf, { startIndex: startIndex % n, replicaShift: replicaShift % n });
    assert.equal(placed.length, partitions);
    const leaders = new Map<number, number>(brokers.map((b) => [b, 0]));
    const replicas = new Map<number, number>(brokers.map((b) => [b, 0]));
    for (const r of placed) {
      assert.equal(r.length, rf);
      assert.equal(new Set(r).size, rf, `replicas ${r.join(',')} repeat a broker`);
      for (const b of r) {
        assert.ok(brokers.includes(b), `replica on unknown broker ${b}`);
        replicas.set(b, replicas.get(b)! + 1);
      }
      leaders.set(r[0]!, leaders.get(r[0]!)! + 1);
    }
    const spread = (m: Map<number, number>) => Math.max(...m.values()) - Math.min(...m.values());
    assert.ok(spread(leaders) <= 1, `leaders per broker differ by ${spread(leaders)}`);
    // Kafka's shift scheme keeps every broker's replica count within rf of the others'.
    assert.ok(spread(replicas) <= rf, `replicas per broker differ by ${spread(replicas)}`);
  }));
});

test('the order of the broker list does not matter, and the default start is random', () => {
  const a = placeReplicas([3, 1, 2], 6, 2, { startIndex: 1, replicaShift: 0 });
  const b = placeReplicas([1, 2, 3], 6, 2, { startIndex: 1, replicaShift: 0 });
  assert.deepEqual(a, b);
  const leadersOfP0 = new Set(Array.from({ length: 200 }, () => placeReplicas([1, 2, 3, 4], 1, 1)[0]![0]));
  assert.equal(leadersOfP0.size, 4, 'successive topics do not all lead on one broker');
});

test('adding partitions continues the pattern where it stopped', () => {
  const whole = placeReplicas([1, 2, 3], 9, 3, { startIndex: 2, replicaShift: 1 });
  const tail = placeReplicas([1, 2, 3], 4, 3, { startIndex: 2, replicaShift: 1 + 1, firstPartition: 5 });
  // Partitions 5..8 of the whole placement: the shift has grown once by partition 3 (p % n == 0).
  assert.deepEqual(tail, whole.slice(5));
});

test('a replication factor larger than the live brokers, or not positive, is refused naming both numbers', () => {
  assert.throws(() => placeReplicas([1, 2], 3, 3), (err: unknown) => err instanceof InvalidReplicationFactorError && /3 is larger than the 2 live broker\(s\) \(1, 2\)/.test(err.message));
  assert.throws(() => placeReplicas([1, 2], 3, 0), InvalidReplicationFactorError);
  assert.throws(() => placeReplicas([], 1, 1), /0 live broker/);
});
