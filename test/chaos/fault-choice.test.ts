/**
 * The nemesis' choices (scripts/chaos/fault-choice.ts) with fixed seeds: a seed replays the same
 * targets; a `reassign` fault changes the placement of a partition that is not being reassigned
 * (a real move when a live broker holds no replica, else one replica less, then back), never
 * removes a pinned broker, never goes below two replicas; broker faults favour the group
 * coordinator without hitting only it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickBroker, planReassignment, type PartitionPlacement, type ReassignPlan } from '../../scripts/chaos/fault-choice.js';
import { Rng } from '../../scripts/chaos/random.js';

const rf3 = (topic: string, partition: number, replicas: number[], reassigning = false): PartitionPlacement => ({ topic, partition, replicas, reassigning });

test('reassign with 3 brokers at RF 3: one replica removed (never the pinned broker), then the partition gets a third back', () => {
  const parts = [rf3('chaos-data', 0, [1, 2, 3]), rf3('chaos-data', 1, [2, 3, 1]), rf3('chaos-jobs', 0, [3, 1, 2])];
  const pinned = new Map([['chaos-jobs', [1]]]);
  const rng = new Rng(7);
  for (let i = 0; i < 200; i++) {
    const plan = planReassignment(rng, parts, [1, 2, 3], 3, pinned)!;
    assert.equal(plan.kind, 'remove');
    assert.equal(plan.to.length, 2);
    assert.ok(plan.to.every((n) => plan.from.includes(n)), JSON.stringify(plan));
    if (plan.topic === 'chaos-jobs') assert.ok(plan.to.includes(1), `the pinned broker stays: ${JSON.stringify(plan)}`);
  }
  const shrunk = [rf3('chaos-data', 0, [1, 3])];
  assert.deepEqual(planReassignment(new Rng(7), shrunk, [1, 2, 3], 3), { topic: 'chaos-data', partition: 0, kind: 'add', from: [1, 3], to: [1, 3, 2] });
  // Never one replica: with minInsyncReplicas 2 every acks=all write would be refused.
  assert.equal(planReassignment(new Rng(7), [rf3('chaos-data', 0, [1, 2])], [1, 2], 3), undefined);
});

test('reassign with 5 brokers: a real move replaces one replica, in place, by a live broker outside the set', () => {
  const rng = new Rng(11);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const plan = planReassignment(rng, [rf3('chaos-data', 2, [4, 1, 2])], [1, 2, 3, 4, 5], 3)!;
    assert.equal(plan.kind, 'move');
    const changed = plan.to.map((n, j) => (n === plan.from[j] ? -1 : j)).filter((j) => j >= 0);
    assert.equal(changed.length, 1, JSON.stringify(plan));
    assert.ok([3, 5].includes(plan.to[changed[0]!]!), JSON.stringify(plan));
    seen.add(changed[0]!);
  }
  // The leader (first replica) is moved too, sometimes: it must hand over.
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
});

test('reassign skips partitions being reassigned, and is skipped when all are', () => {
  const parts = [rf3('chaos-data', 0, [1, 2, 3], true), rf3('chaos-data', 1, [1, 2, 3])];
  const rng = new Rng(3);
  for (let i = 0; i < 50; i++) assert.equal(planReassignment(rng, parts, [1, 2, 3], 3)!.partition, 1);
  assert.equal(planReassignment(rng, [rf3('chaos-data', 0, [1, 2, 3], true)], [1, 2, 3], 3), undefined);
});

test('a seed replays the same reassignments and broker targets', () => {
  const run = (seed: number) => {
    const rng = new Rng(seed);
    const out: (ReassignPlan | number | undefined)[] = [];
    const parts = [rf3('chaos-data', 0, [1, 2, 3]), rf3('chaos-data', 1, [2, 3, 4]), rf3('chaos-jobs', 0, [5, 1, 2])];
    for (let i = 0; i < 20; i++) {
      out.push(planReassignment(rng, parts, [1, 2, 3, 4, 5], 3));
      out.push(pickBroker(rng, [2, 3, 4, 5], 3)?.nodeId);
    }
    return out;
  };
  assert.deepEqual(run(34), run(34));
  assert.notDeepEqual(run(34), run(35));
});

test('broker faults hit the group coordinator about half the time, and the others too', () => {
  const rng = new Rng(34);
  const hits = new Map<number, number>();
  let flagged = 0;
  for (let i = 0; i < 1000; i++) {
    const c = pickBroker(rng, [2, 3, 4], 3)!;
    hits.set(c.nodeId, (hits.get(c.nodeId) ?? 0) + 1);
    if (c.coordinator) { flagged++; assert.equal(c.nodeId, 3); }
  }
  // 1/2 + 1/2 * 1/3 = 2/3 on the coordinator; 1/6 on each other broker.
  assert.ok(hits.get(3)! > 600 && hits.get(3)! < 730, JSON.stringify([...hits]));
  assert.ok(hits.get(2)! > 120 && hits.get(4)! > 120, JSON.stringify([...hits]));
  assert.equal(flagged, hits.get(3));
  // A coordinator that may not be hit (the share group's broker) is never picked.
  for (let i = 0; i < 100; i++) assert.notEqual(pickBroker(rng, [2, 4], 3)!.nodeId, 3);
  assert.equal(pickBroker(rng, [], 3), undefined);
});
