// The decision of the controller's automatic preferred-leader check (src/cluster/leader-imbalance.ts):
// per preferred broker, the share of its partitions led elsewhere against the threshold, and
// only partitions electPreferredLeader may move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaderImbalance } from '../../src/cluster/leader-imbalance.js';
import type { PartitionState } from '../../src/cluster/partition-state.js';

const live = new Set([1, 2, 3]);
function p(partition: number, replicas: number[], leader: number, isr = replicas, extra: Partial<PartitionState> = {}) {
  return { topic: 't', partition, state: { replicas, leader, leaderEpoch: 1, isr, ...extra } };
}

test('a broker above the threshold gets back the partitions it can lead; one at or below it keeps its imbalance', () => {
  // Broker 1 prefers 10 partitions and leads 8 of them (20% elsewhere); broker 2 prefers 10 and leads 9 (10%).
  const states = [
    ...Array.from({ length: 10 }, (_, i) => p(i, [1, 2, 3], i < 8 ? 1 : 3)),
    ...Array.from({ length: 10 }, (_, i) => p(10 + i, [2, 3, 1], i < 9 ? 2 : 3)),
  ];
  const r = leaderImbalance(states, live, 10);
  assert.equal(r.imbalanced, 3);
  assert.deepEqual(r.toElect.map((x) => x.partition), [8, 9], 'broker 1 (20% > 10%) only; broker 2 is at 10%, not above');
  assert.deepEqual(leaderImbalance(states, live, 0).toElect.map((x) => x.partition), [8, 9, 19], 'threshold 0: every partition that can move');
  assert.deepEqual(leaderImbalance(states, live, 100).toElect, [], 'threshold 100: never');
});

test('a preferred replica that is dead, out of the ISR or being reassigned is not elected', () => {
  const states = [
    p(0, [1, 2, 3], 2, [2, 3]), // 1 not in the ISR
    p(1, [4, 2, 3], 2), // 4 not live
    p(2, [1, 2, 3], 2, [1, 2, 3], { addingReplicas: [3], removingReplicas: [] }), // reassigning
    p(3, [1, 2, 3], 3), // can move
    p(4, [], -1), // no replicas: counted nowhere
  ];
  const r = leaderImbalance(states, live, 10);
  assert.equal(r.imbalanced, 4);
  assert.deepEqual(r.toElect, [{ topic: 't', partition: 3 }]);
});
