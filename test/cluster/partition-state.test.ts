import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { electLeader, initialState, moveAwayFrom, NO_LEADER, parsePartitionState, withIsr, type PartitionState } from '../../src/cluster/partition-state.js';

const s = (replicas: number[], leader: number, leaderEpoch: number, isr: number[]): PartitionState => ({ replicas, leader, leaderEpoch, isr });

test('a dead leader is replaced by the first live ISR member in replica order, with the next epoch', () => {
  const r = electLeader(s([1, 2, 3], 1, 4, [1, 2, 3]), new Set([2, 3]));
  assert.deepEqual(r, { kind: 'changed', state: s([1, 2, 3], 2, 5, [2, 3]) });
});

test('a replica outside the ISR is never elected unless unclean election is on', () => {
  // 3 is alive but fell out of the ISR: it may lack acknowledged records.
  const before = s([1, 2, 3], 1, 2, [1, 2]);
  const clean = electLeader(before, new Set([3]));
  assert.equal(clean.kind, 'offline');
  assert.equal(clean.kind === 'offline' && clean.state.leader, NO_LEADER);
  assert.deepEqual(clean.kind === 'offline' && clean.state.isr, [1, 2], 'the ISR still names who must come back');
  const unclean = electLeader(before, new Set([3]), true);
  assert.deepEqual(unclean, { kind: 'changed', state: s([1, 2, 3], 3, 3, [3]) });
});

test('a live leader keeps leading; dead followers leave the ISR without an epoch change', () => {
  assert.deepEqual(electLeader(s([1, 2, 3], 2, 7, [2, 3]), new Set([1, 2, 3])), { kind: 'unchanged' });
  assert.deepEqual(electLeader(s([1, 2, 3], 2, 7, [1, 2, 3]), new Set([2])), { kind: 'changed', state: s([1, 2, 3], 2, 7, [2]) });
});

test('an offline partition comes back when an ISR member returns', () => {
  const offline = s([1, 2, 3], NO_LEADER, 5, [1, 2]);
  assert.deepEqual(electLeader(offline, new Set([3])), { kind: 'unchanged' });
  assert.deepEqual(electLeader(offline, new Set([2, 3])), { kind: 'changed', state: s([1, 2, 3], 2, 6, [2]) });
});

test('every election keeps the invariants: leader in ISR, ISR within replicas, epoch never goes back', () => {
  const arb = fc.record({
    n: fc.integer({ min: 1, max: 5 }),
    isrMask: fc.integer({ min: 1, max: 31 }),
    leaderIdx: fc.integer({ min: 0, max: 4 }),
    liveMask: fc.integer({ min: 0, max: 31 }),
    unclean: fc.boolean(),
  });
  fc.assert(fc.property(arb, ({ n, isrMask, leaderIdx, liveMask, unclean }) => {
    const replicas = Array.from({ length: n }, (_, i) => i + 1);
    const leader = replicas[leaderIdx % n]!;
    const isr = [...new Set([leader, ...replicas.filter((_, i) => (isrMask >> i) & 1)])];
    const live = new Set(replicas.filter((_, i) => (liveMask >> i) & 1));
    const before = s(replicas, leader, 3, isr);
    const r = electLeader(before, live, unclean);
    if (r.kind === 'unchanged') return;
    const after = r.state;
    assert.ok(after.leaderEpoch >= before.leaderEpoch);
    if (after.leader !== before.leader) assert.ok(after.leaderEpoch > before.leaderEpoch, 'a new leader gets a new epoch');
    if (after.leader !== NO_LEADER) {
      assert.ok(live.has(after.leader), 'the leader is alive');
      assert.ok(after.isr.includes(after.leader), 'the leader is in the ISR');
      if (!unclean) assert.ok(before.isr.includes(after.leader), 'a clean election picks from the old ISR');
      for (const b of after.isr) assert.ok(live.has(b));
    }
    for (const b of after.isr) assert.ok(replicas.includes(b));
  }));
});

test('controlled shutdown moves leadership to a live ISR member, or keeps it when none is left', () => {
  assert.deepEqual(moveAwayFrom(s([1, 2, 3], 1, 0, [1, 2, 3]), 1, new Set([1, 2, 3])), s([1, 2, 3], 2, 1, [2, 3]));
  assert.deepEqual(moveAwayFrom(s([1, 2, 3], 2, 0, [1, 2, 3]), 1, new Set([1, 2, 3])), s([1, 2, 3], 2, 0, [2, 3]));
  assert.equal(moveAwayFrom(s([1, 2, 3], 1, 0, [1]), 1, new Set([1, 2, 3])), undefined, 'the only in-sync replica keeps leading');
});

test('ISR changes keep the leader and the replica order, and refuse an ISR without the leader', () => {
  const st = initialState([3, 1, 2]);
  assert.deepEqual(withIsr(st, [2, 3]).isr, [3, 2]);
  assert.throws(() => withIsr(st, [1, 2]), /must contain the leader 3/);
  assert.throws(() => withIsr(st, [3, 9]), /9 is not a replica/);
});

test('a stored state that a broker did not write is refused naming the field', () => {
  assert.deepEqual(parsePartitionState(JSON.stringify(initialState([1, 2]))), s([1, 2], 1, 0, [1, 2]));
  assert.throws(() => parsePartitionState('{"replicas":[1],"leader":"x","leaderEpoch":0,"isr":[1]}'), /leader and leaderEpoch/);
  assert.throws(() => parsePartitionState('{"replicas":[1],"leader":1,"leaderEpoch":0,"isr":"1"}'), /isr must be/);
});
