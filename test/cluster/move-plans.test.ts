import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planDrain, planRebalance, type PlacedPartition } from '../../src/cluster/move-plans.js';

const part = (partition: number, replicas: number[]): PlacedPartition => ({ topic: 't', partition, replicas });

test('drain replaces the node in place by the least loaded live broker that holds no replica of the partition', () => {
  const parts = [part(0, [1, 2, 3]), part(1, [2, 3, 1]), part(2, [3, 4, 2]), part(3, [2, 4, 3])];
  const { moves, stuck } = planDrain(parts, 2, [1, 2, 3, 4]);
  assert.deepEqual(stuck, []);
  assert.deepEqual(moves.map((m) => m.replicas), [[1, 4, 3], [4, 3, 1], [3, 4, 1], [1, 4, 3]]);
  for (const m of moves) assert.ok(!m.replicas.includes(2));
});

test('a partition with nowhere to go is reported as stuck, not moved', () => {
  const { moves, stuck } = planDrain([part(0, [1, 2, 3])], 3, [1, 2, 3]);
  assert.deepEqual(moves, []);
  assert.deepEqual(stuck, [part(0, [1, 2, 3])]);
});

test('rebalance gives an added broker replicas until counts are within one', () => {
  const parts = [part(0, [1, 2, 3]), part(1, [2, 3, 1]), part(2, [3, 1, 2]), part(3, [1, 3, 2])];
  const moves = planRebalance(parts, [1, 2, 3, 4]);
  const c = new Map<number, number>();
  const after = parts.map((p) => moves.find((m) => m.partition === p.partition)?.replicas ?? p.replicas);
  for (const r of after) for (const b of r) c.set(b, (c.get(b) ?? 0) + 1);
  assert.equal(c.get(4), 3, 'broker 4 gets its share (12 replicas / 4 brokers)');
  assert.ok(Math.max(...c.values()) - Math.min(...c.values()) <= 1);
  assert.deepEqual(planRebalance(after.map((r, i) => part(i, [...r])), [1, 2, 3, 4]), [], 'a balanced cluster needs no move');
});

test('plans keep replicas distinct, off the drained node, and never lose a replica', () => {
  fc.assert(fc.property(fc.array(fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 1, maxLength: 3 }), { maxLength: 20 }), fc.integer({ min: 1, max: 5 }), (lists, node) => {
    const parts = lists.map((r, i) => part(i, r));
    const live = [1, 2, 3, 4, 5];
    const { moves } = planDrain(parts, node, live);
    for (const m of moves) {
      assert.equal(new Set(m.replicas).size, m.replicas.length);
      assert.ok(!m.replicas.includes(node));
      assert.equal(m.replicas.length, m.from.length);
    }
    for (const m of planRebalance(parts, live)) assert.equal(new Set(m.replicas).size, m.replicas.length);
  }));
});
