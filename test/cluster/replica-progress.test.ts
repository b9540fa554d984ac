import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeaderReplicaState } from '../../src/cluster/replica-progress.js';

const LAG = 10_000;
const leader = (isr = [1, 2, 3], leo = 0, hw = 0, epochStart = 0) =>
  new LeaderReplicaState(1, [1, 2, 3], isr, { nowMs: 0, leaderLogEndOffset: leo, highWatermark: hw, leaderEpochStartOffset: epochStart });

test('the high watermark is the lowest log end over the ISR; acks=all is done only when every ISR member has the record', () => {
  const s = leader();
  s.onLeaderAppend(10);
  assert.equal(s.highWatermark, 0);
  assert.equal(s.acksAll(9, 2), 'waiting');
  s.onFollowerFetch(2, 10, 1);
  assert.equal(s.highWatermark, 0, 'follower 3 has not fetched: nothing is on every ISR member yet');
  assert.equal(s.onFollowerFetch(3, 6, 1), true);
  assert.equal(s.highWatermark, 6);
  assert.equal(s.acksAll(5, 2), 'done');
  assert.equal(s.acksAll(9, 2), 'waiting');
  assert.equal(s.acksAll(5, 4), 'not-enough-replicas', 'fewer ISR members than minInsyncReplicas');
});

test('a follower outside the ISR does not hold the high watermark back; removing a laggard moves it', () => {
  const s = leader([1, 2]);
  s.onLeaderAppend(10);
  s.onFollowerFetch(2, 10, 1);
  assert.equal(s.highWatermark, 10, 'follower 3 is outside the ISR');
  const t = leader();
  t.onLeaderAppend(10);
  t.onFollowerFetch(2, 10, 1);
  assert.equal(t.highWatermark, 0);
  assert.equal(t.setIsr([1, 2]), true);
  assert.equal(t.highWatermark, 10);
});

test('a follower that keeps up with a growing log stays in sync; a silent or slower one leaves after replicaLagTimeMs', () => {
  const s = leader();
  let leo = 0;
  let now = 0;
  for (let i = 0; i < 100; i++) {
    now += 500;
    const before = leo;
    leo += 100;
    s.onLeaderAppend(leo);
    // 2 always fetches what existed at its previous fetch: never at the end, but keeping pace.
    s.onFollowerFetch(2, before, now);
    // 3 fetches too, but falls further behind every time.
    s.onFollowerFetch(3, Math.floor(before / 2), now);
  }
  assert.deepEqual(s.laggingReplicas(now, LAG), [3]);
  const quiet = leader();
  quiet.onFollowerFetch(2, 0, 100);
  quiet.onFollowerFetch(3, 0, 100);
  assert.deepEqual(quiet.laggingReplicas(100 + LAG, LAG), [], 'caught up at 100: not lagging at exactly the bound');
  assert.deepEqual(quiet.laggingReplicas(100 + LAG + 1, LAG).sort(), [2, 3], 'nothing fetched since: both out');
});

test('a follower rejoins once it reaches the high watermark and the start of the leader epoch', () => {
  const s = leader([1, 2], 50, 40, 45);
  s.onFollowerFetch(2, 50, 1);
  assert.equal(s.highWatermark, 50);
  s.onFollowerFetch(3, 44, 1);
  assert.deepEqual(s.caughtUpReplicas(), []);
  s.onFollowerFetch(3, 50, 2);
  assert.deepEqual(s.caughtUpReplicas(), [3]);
  assert.throws(() => s.setIsr([2, 3]), /must contain the leader 1/);
});

test('invariants under any order of appends, fetches and ISR changes', () => {
  const event = fc.oneof(
    fc.record({ k: fc.constant('append' as const), n: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ k: fc.constant('fetch' as const), f: fc.constantFrom(2, 3), back: fc.integer({ min: 0, max: 8 }) }),
    fc.record({ k: fc.constant('shrink' as const), f: fc.constantFrom(2, 3) }),
    fc.record({ k: fc.constant('expand' as const) }),
  );
  fc.assert(fc.property(fc.array(event, { maxLength: 80 }), (events) => {
    const s = leader();
    const leos = new Map<number, number>([[2, 0], [3, 0]]);
    let leo = 0;
    let hw = 0;
    let now = 0;
    for (const e of events) {
      now += 10;
      if (e.k === 'append') s.onLeaderAppend((leo += e.n));
      else if (e.k === 'fetch') {
        // A follower's log end only grows, and never past the leader's.
        const off = Math.max(leos.get(e.f)!, leo - e.back);
        leos.set(e.f, off);
        s.onFollowerFetch(e.f, off, now);
      } else if (e.k === 'shrink') s.setIsr(s.isr.filter((id) => id !== e.f));
      else s.setIsr([...s.isr, ...s.caughtUpReplicas()]); // the leader adds only those caughtUpReplicas names
      assert.ok(s.highWatermark >= hw, 'the high watermark never goes back');
      hw = s.highWatermark;
      assert.ok(hw <= leo, 'never above the leader\'s log end');
      for (const id of s.isr) if (id !== 1) assert.ok(leos.get(id)! >= hw, `ISR member ${id} holds every record below the high watermark`);
      if (hw > 0) assert.equal(s.acksAll(hw - 1, 1), 'done');
      assert.equal(s.acksAll(leo, 1), 'waiting', 'nothing past the log end is ever done');
    }
  }));
});
