import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { electLeader, electPreferredLeader, parsePartitionState, type PartitionState } from '../../src/cluster/partition-state.js';
import {
  InvalidReplicaAssignmentError, NoReassignmentInProgressError, ReassignmentInProgressError, cancelReassignment, isReassigning, originReplicas, reassignmentStep, replicasNotInSync,
  startReassignment, targetReplicas,
} from '../../src/cluster/reassignment.js';
import { LeaderReplicaState } from '../../src/cluster/replica-progress.js';

const s = (replicas: number[], leader: number, leaderEpoch: number, isr: number[]): PartitionState => ({ replicas, leader, leaderEpoch, isr });
const known = new Set([1, 2, 3, 4]);

test('start: the target comes first, the replicas being removed after it, both recorded (KIP-455)', () => {
  const next = startReassignment(s([1, 2, 3], 1, 5, [1, 2, 3]), [1, 2, 4], known, 't-0')!;
  assert.deepEqual(next, { replicas: [1, 2, 4, 3], leader: 1, leaderEpoch: 5, isr: [1, 2, 3], addingReplicas: [4], removingReplicas: [3] });
  assert.deepEqual(targetReplicas(next), [1, 2, 4]);
  assert.deepEqual(originReplicas(next), [1, 2, 3]);
  assert.deepEqual(replicasNotInSync(next), [4]);
  // It survives the round trip through etcd's JSON.
  assert.deepEqual(parsePartitionState(JSON.stringify(next)), next);
});

test('bad targets are refused naming what is wrong', () => {
  const st = s([1, 2, 3], 1, 0, [1, 2, 3]);
  const refuse = (target: number[], re: RegExp, cls: new (...a: never[]) => Error = InvalidReplicaAssignmentError) =>
    assert.throws(() => startReassignment(st, target, known, 't-0'), (e: Error) => e instanceof cls && re.test(e.message));
  refuse([], /t-0: the replica list is empty/);
  refuse([1, 2, 2], /broker 2 is listed more than once in 1,2,2/);
  refuse([1, 2, 9], /unknown broker 9 \(known brokers: 1, 2, 3, 4\)/);
  refuse([1, -1], /-1 is not a node id/);
  const running = startReassignment(st, [1, 2, 4], known, 't-0')!;
  assert.throws(() => startReassignment(running, [2, 3, 4], known, 't-0'),
    (e: Error) => e instanceof ReassignmentInProgressError && /t-0: a reassignment to 1,2,4 is already running \(from 1,2,3\)/.test(e.message) && (e as ReassignmentInProgressError).code === 'REASSIGNMENT_IN_PROGRESS');
  assert.equal(startReassignment(st, [1, 2, 3], known, 't-0'), undefined, 'the same list: nothing to do');
});

test('steps: a leader outside the target hands over at once to an in-sync target replica, then the move waits for every target replica in the ISR, then drops the old replicas', () => {
  const live = new Set([1, 2, 3, 4]);
  // Leader 3 is being removed: it hands over before 4 has copied anything (drain moves leaderships first).
  let st = startReassignment(s([3, 1, 2], 3, 7, [3, 1, 2]), [1, 2, 4], known, 't-0')!;
  const moved = reassignmentStep(st, live);
  assert.equal(moved.kind, 'leader-moved');
  assert.equal(moved.kind === 'leader-moved' && moved.state.leader, 1);
  assert.equal(moved.kind === 'leader-moved' && moved.state.leaderEpoch, 8);
  assert.deepEqual(moved.kind === 'leader-moved' && moved.state.isr, [3, 1, 2], 'the old leader stays in the ISR, as a follower');
  st = moved.kind === 'leader-moved' ? moved.state : st;
  assert.deepEqual(reassignmentStep(st, live), { kind: 'waiting', notInSync: [4] });
  st = { ...st, isr: [...st.isr, 4] }; // the leader added 4 once it caught up
  const done = reassignmentStep(st, live);
  assert.deepEqual(done, { kind: 'completed', state: s([1, 2, 4], 1, 8, [1, 2, 4]) });
  assert.equal(isReassigning(done.kind === 'completed' ? done.state : st), false);
  assert.deepEqual(reassignmentStep(s([1, 2, 4], 1, 8, [1, 2, 4]), live), { kind: 'none' });
});

test('a leader with no in-sync target replica (RF 1) hands over only once the new replica is in sync', () => {
  const live = new Set([1, 2]);
  let st = startReassignment(s([1], 1, 3, [1]), [2], known, 't-0')!;
  assert.deepEqual(reassignmentStep(st, live), { kind: 'waiting', notInSync: [2] });
  st = { ...st, isr: [1, 2] };
  const r = reassignmentStep(st, live);
  assert.deepEqual(r.kind === 'leader-moved' && [r.state.leader, r.state.leaderEpoch], [2, 4]);
});

test('cancel: the original replicas come back, the adding ones go, a leader that had moved outside them hands back at a new epoch', () => {
  const live = new Set([1, 2, 3, 4]);
  const running = startReassignment(s([1, 2, 3], 2, 5, [1, 2, 3]), [1, 4, 5], new Set([1, 2, 3, 4, 5]), 't-0')!;
  assert.deepEqual(cancelReassignment({ ...running, isr: [1, 2, 3, 4] }, live, 't-0'), s([1, 2, 3], 2, 5, [1, 2, 3]), 'the leader is an original replica: same epoch');
  // The leader moved to 4 (an added replica in sync): it hands back to the first original replica in sync.
  const moved = { ...running, leader: 4, leaderEpoch: 6, isr: [2, 3, 4] };
  assert.deepEqual(cancelReassignment(moved, live, 't-0'), s([1, 2, 3], 2, 7, [2, 3]));
  assert.deepEqual(parsePartitionState(JSON.stringify(cancelReassignment(moved, live, 't-0'))), s([1, 2, 3], 2, 7, [2, 3]), 'no reassignment fields left in etcd');
  const refuse = (st: PartitionState, re: RegExp) =>
    assert.throws(() => cancelReassignment(st, live, 't-0'), (e: Error) => e instanceof NoReassignmentInProgressError && (e as NoReassignmentInProgressError).code === 'NO_REASSIGNMENT_IN_PROGRESS' && re.test(e.message));
  refuse(s([1, 2, 3], 1, 0, [1, 2, 3]), /t-0: no reassignment is running \(replicas 1,2,3\)/);
  refuse({ ...running, leader: 4, isr: [4] }, /no original replica \(1,2,3\) is live and in sync/);
  refuse({ ...running, leader: -1 }, /no leader/);
});

test('preferred-leader election: the first replica leads at a new epoch when live and in sync; otherwise why not', () => {
  const live = new Set([1, 2, 3]);
  assert.deepEqual(electPreferredLeader(s([1, 2, 3], 2, 4, [1, 2, 3]), live), { kind: 'elected', state: s([1, 2, 3], 1, 5, [1, 2, 3]) });
  assert.deepEqual(electPreferredLeader(s([1, 2, 3], 1, 4, [1, 2, 3]), live), { kind: 'not-needed' });
  assert.deepEqual(electPreferredLeader(s([1, 2, 3], 2, 4, [2, 3]), live), { kind: 'not-available', reason: 'its preferred replica 1 is not in the ISR (2,3)' });
  assert.deepEqual(electPreferredLeader(s([1, 2, 3], 2, 4, [1, 2, 3]), new Set([2, 3])), { kind: 'not-available', reason: 'its preferred replica 1 is not alive' });
  const running = startReassignment(s([1, 2, 3], 2, 5, [1, 2, 3]), [1, 2, 4], known, 't-0')!;
  assert.deepEqual(electPreferredLeader(running, live), { kind: 'not-available', reason: 'it is being reassigned' });
});

test('a leader in the target keeps leading at its epoch; a dead first target replica is skipped for the move', () => {
  const st = { ...startReassignment(s([1, 2, 3], 2, 4, [1, 2, 3]), [1, 2, 4], known, 't-0')!, isr: [1, 2, 3, 4] };
  assert.deepEqual(reassignmentStep(st, new Set([1, 2, 3, 4])), { kind: 'completed', state: s([1, 2, 4], 2, 4, [1, 2, 4]) });
  const away = { ...startReassignment(s([3, 1, 2], 3, 4, [3, 1, 2]), [1, 2], known, 't-0')! };
  const r = reassignmentStep(away, new Set([2, 3]));
  assert.equal(r.kind === 'leader-moved' && r.state.leader, 2);
  assert.deepEqual(reassignmentStep(away, new Set([3])), { kind: 'waiting', notInSync: [] }, 'no live in-sync target replica: wait');
});

test('any sequence of ISR changes, deaths and steps keeps the invariants and ends at the target once all are in sync', () => {
  fc.assert(fc.property(
    fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 1, maxLength: 4 }),
    fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 1, maxLength: 4 }),
    fc.array(fc.record({ live: fc.subarray([1, 2, 3, 4, 5]), join: fc.integer({ min: 1, max: 5 }) }), { maxLength: 12 }),
    (origin, target, events) => {
      let st: PartitionState = { replicas: origin, leader: origin[0]!, leaderEpoch: 0, isr: [...origin] };
      st = startReassignment(st, target, new Set([1, 2, 3, 4, 5]), 't-0') ?? st;
      let epoch = st.leaderEpoch;
      const check = (x: PartitionState) => {
        assert.ok(x.leaderEpoch >= epoch);
        epoch = x.leaderEpoch;
        for (const b of x.isr) assert.ok(x.replicas.includes(b), 'ISR within replicas');
        if (x.leader !== -1) assert.ok(x.isr.includes(x.leader), 'leader in the ISR');
        if (isReassigning(x)) assert.deepEqual(new Set(targetReplicas(x)), new Set(target));
      };
      for (const ev of [...events, { live: [1, 2, 3, 4, 5], join: 0 }]) {
        const live = new Set(ev.live);
        const e = electLeader(st, live);
        if (e.kind !== 'unchanged') { st = e.state; check(st); }
        // The leader adds a replica that caught up (only replicas may join).
        if (st.leader !== -1 && st.replicas.includes(ev.join) && !st.isr.includes(ev.join)) st = { ...st, isr: [...st.isr, ev.join] };
        for (let i = 0; i < 3; i++) {
          const r = reassignmentStep(st, live);
          if (r.kind === 'leader-moved' || r.kind === 'completed') { st = r.state; check(st); }
        }
      }
      if (!isReassigning(st)) assert.deepEqual(st.replicas, target);
      // A cancel at any point keeps the invariants too and ends at the original replicas.
      let cancelled: PartitionState | undefined;
      try {
        cancelled = cancelReassignment(st, new Set([1, 2, 3, 4, 5]), 't-0');
      } catch (e) {
        assert.ok(e instanceof NoReassignmentInProgressError);
      }
      if (cancelled !== undefined) {
        check(cancelled);
        // The original set; its order is the running list's without the adding replicas (as Kafka's cancel).
        assert.deepEqual([...cancelled.replicas].sort(), [...origin].sort());
        assert.equal(isReassigning(cancelled), false);
      }
    },
  ));
});

test('the leader tracks followers a reassignment adds or drops at the same epoch', () => {
  const p = new LeaderReplicaState(1, [1, 2, 3], [1, 2, 3], { nowMs: 0, leaderLogEndOffset: 10, highWatermark: 10, leaderEpochStartOffset: 0 });
  assert.throws(() => p.onFollowerFetch(4, 0, 1), /not a replica/);
  p.setReplicas([1, 2, 4, 3], 1);
  p.onFollowerFetch(4, 10, 2);
  assert.deepEqual(p.caughtUpReplicas(), [4]);
  p.setReplicas([1, 2, 4], 3);
  assert.deepEqual([...p.followerLogEndOffsets()].map(([id]) => id).sort(), [2, 4]);
});
