// The replica manager applies partition states to local logs: leader, follower or none, with
// the leader epoch recorded at the log end on becoming leader, stale states ignored, and a
// partition whose log appears later applied once refreshed. States are fed by the test; the
// logs are real, in a temp dir; the Follower is a recording double (another part builds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLogManager } from '../../src/storage/log-manager.js';
import { ReplicaManager, Leadership, type ReplicaManagerOptions } from '../../src/replication/replica-manager.js';
import { tempDir, batchOf } from '../storage/helpers.js';
import { tpKey } from '../../src/protocol/topic-partition.js';
import { FedStates, RecordingFollower, TestClock } from './helpers.js';
import { Failsafe, failsafeWindows } from '../../src/cluster/failsafe.js';

async function setup(t: { after(fn: () => Promise<void>): void }, opts: Partial<ReplicaManagerOptions> = {}) {
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  await logs.createTopic('t', 1);
  const states = new FedStates();
  const follower = new RecordingFollower();
  const clock = new TestClock();
  const woken: string[] = [];
  const rm = new ReplicaManager({
    nodeId: 1, states, log: (topic, p) => logs.log(topic, p), follower,
    writeIsr: () => Promise.reject(new Error('no ISR write expected in this test')),
    sessionValid: () => true, replicaLagTimeMs: 10_000, minInsyncReplicas: () => 1, now: clock.now,
    onHighWatermark: (topic, p) => { woken.push(`${topic}-${p}`); }, isrTimer: false, ...opts,
  });
  t.after(async () => { await rm.stop(); await logs.close(); await cleanup(); });
  return { logs, states, follower, clock, rm, woken, log: logs.log('t', 0)! };
}

function leadership(rm: ReplicaManager, topic = 't', p = 0): Leadership {
  const l = rm.leaderFor(topic, p);
  if (!(l instanceof Leadership)) assert.fail(`expected to lead ${topic}-${p}, got ${l.error}: ${l.message}`);
  return l;
}

test('leader -> follower -> leader at a higher epoch: epochs recorded at the log end, the follower started and stopped', async (t) => {
  const { states, follower, rm, log, woken } = await setup(t);
  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
  rm.start();
  await rm.settled();
  assert.equal(rm.role('t', 0), 'leader');
  assert.deepEqual(log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }], 'epoch 0 known before any append');
  assert.deepEqual(woken, ['t-0'], 'waiters woken on becoming leader');
  const l0 = leadership(rm);
  await rm.append(l0, batchOf(3, 0), false);
  assert.equal(l0.highWatermark, 0, 'followers have not fetched: the high watermark stays');

  states.set('t', 0, { replicas: [1, 2, 3], leader: 2, leaderEpoch: 1, isr: [2, 3] });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'follower');
  assert.equal(rm.isCurrent(l0), false);
  assert.deepEqual(follower.calls, ['follow t-0 leader 2 epoch 1']);
  assert.equal(follower.following.get(tpKey('t', 0))?.log, log, 'the follower copies into the local log');
  const refused = rm.leaderFor('t', 0);
  assert.ok(!(refused instanceof Leadership));
  assert.equal(refused.error, 'NOT_LEADER_OR_FOLLOWER');

  // Same leader and epoch, another ISR: the follower is not restarted.
  states.set('t', 0, { replicas: [1, 2, 3], leader: 2, leaderEpoch: 1, isr: [1, 2, 3] });
  await rm.settled();
  assert.deepEqual(follower.calls, ['follow t-0 leader 2 epoch 1']);

  // The follower copied nothing new; the leader had told it the high watermark is 2.
  follower.hw.set(tpKey('t', 0), 2);
  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 2, isr: [1, 2, 3] });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'leader');
  assert.deepEqual(follower.calls, ['follow t-0 leader 2 epoch 1', 'unfollow t-0']);
  assert.deepEqual(log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: 3 }], 'epoch 2 starts at the log end');
  const l2 = leadership(rm);
  assert.equal(l2.leaderEpoch, 2);
  assert.equal(l2.highWatermark, 2, 'the high watermark the follower last heard carries over');
  const res = await rm.append(l2, batchOf(1, 3), false);
  assert.equal(res.baseOffset, 3);
  assert.equal(log.endOffsetForEpoch(0).endOffset, 3);
});

test('a stale state (lower epoch, or an older revision of the same epoch) is ignored', async (t) => {
  const { states, follower, rm } = await setup(t);
  const old = states.set('t', 0, { replicas: [1, 2, 3], leader: 2, leaderEpoch: 4, isr: [1, 2, 3] });
  rm.start();
  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 5, isr: [1, 2, 3] });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'leader');
  states.replay(old);
  states.replay({ ...old, state: { ...old.state, leader: 3, leaderEpoch: 3 }, modRevision: 99 });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'leader', 'still leading at epoch 5');
  assert.equal(leadership(rm).leaderEpoch, 5);
  assert.deepEqual(follower.calls, ['follow t-0 leader 2 epoch 4', 'unfollow t-0']);
});

test('offline (leader -1), not placed here, or deleted: no role; requests are refused', async (t) => {
  const { states, follower, rm } = await setup(t);
  rm.start();
  states.set('t', 0, { replicas: [1, 2, 3], leader: 2, leaderEpoch: 0, isr: [2, 1, 3] });
  await rm.settled();
  states.set('t', 0, { replicas: [1, 2, 3], leader: -1, leaderEpoch: 1, isr: [2] });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'none');
  assert.deepEqual(follower.calls, ['follow t-0 leader 2 epoch 0', 'unfollow t-0']);
  const r = rm.leaderFor('t', 0);
  assert.ok(!(r instanceof Leadership) && r.error === 'NOT_LEADER_OR_FOLLOWER');

  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 2, isr: [1] });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'leader');
  states.set('t', 0, { replicas: [2, 3, 4], leader: 2, leaderEpoch: 3, isr: [2, 3, 4] });
  await rm.settled();
  assert.equal(rm.role('t', 0), 'none', 'not a replica here any more');
  states.delete('t', 0);
  await rm.settled();
  const gone = rm.leaderFor('t', 0);
  assert.ok(!(gone instanceof Leadership) && gone.error === 'UNKNOWN_TOPIC_OR_PARTITION');
});

test('a partition whose local log does not exist yet is applied once refreshed', async (t) => {
  const { logs, states, rm } = await setup(t);
  rm.start();
  states.set('t', 1, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] });
  await rm.settled();
  assert.equal(rm.role('t', 1), 'none');
  await logs.addPartitions('t', 2);
  rm.refresh('t');
  await rm.settled();
  assert.equal(rm.role('t', 1), 'leader');
});

test('an ISR of the leader alone: the high watermark follows the log end', async (t) => {
  const { states, rm, woken } = await setup(t);
  states.set('t', 0, { replicas: [1], leader: 1, leaderEpoch: 0, isr: [1] });
  rm.start();
  await rm.settled();
  const l = leadership(rm);
  woken.length = 0;
  await rm.append(l, batchOf(2, 0), false);
  assert.equal(l.highWatermark, 2);
  assert.deepEqual(woken, ['t-0'], 'a high watermark move wakes the partition');
});

test('role changes go to the handed-in logger, the same object shape the follower takes (the broker hands its own)', async (t) => {
  const lines: string[] = [];
  const record = (level: string) => (event: string, fields?: Record<string, unknown>) => { lines.push(`${level} ${event} ${String(fields?.topic)}-${String(fields?.partition)}`); };
  const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
  const { states, rm } = await setup(t, { logger });
  states.set('t', 0, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] });
  rm.start();
  await rm.settled();
  states.set('t', 0, { replicas: [1, 2], leader: 2, leaderEpoch: 1, isr: [2] });
  await rm.settled();
  assert.deepEqual(lines, ['info replication.became-leader t-0', 'info replication.became-follower t-0']);
});

test('failsafe: a leader without a valid session acknowledges only while the gate is writable; a leadership gained after a grant waits out the promise', async (t) => {
  let sessionOk = true;
  let now = 0;
  const fs = new Failsafe(failsafeWindows(6000), () => now);
  const { states, rm, log } = await setup(t, { sessionValid: () => sessionOk, failsafe: fs });
  const grant = { askerNodeId: 2, askerViewRevision: 9, ownNodeId: 1, ownViewRevision: 1, etcdSilentMs: 9999, silenceNeededMs: 5000 };
  states.set('t', 0, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1] });
  rm.start();
  await rm.settled();
  const l0 = leadership(rm);
  now += 10;
  assert.ok(fs.answer(grant).granted, 'a grant given while already leading');
  assert.ok(rm.leaderFor('t', 0, 0, true) instanceof Leadership, 'a leadership older than the grant is not held');

  sessionOk = false;
  const fenced = rm.leaderFor('t', 0, 0, true);
  assert.ok(!(fenced instanceof Leadership) && /self-fenced/.test(fenced.message), 'no session, no full round: fenced');
  assert.equal(rm.acksAll(l0, 0), 'not-leader');
  fs.roundEnded(now, true);
  assert.ok(rm.leaderFor('t', 0, 0, true) instanceof Leadership, 'every peer granted: writes go on');
  assert.notEqual(rm.acksAll(l0, 0), 'not-leader');
  assert.ok(rm.leaderFor('t', 0, 0, false) instanceof Leadership, 'reads never depended on it');
  now += 3000;
  assert.ok(!(rm.leaderFor('t', 0, 0, true) instanceof Leadership), 'W after the round start: fenced again');

  // Leadership moves away and back (a new epoch) after this broker granted a check: held for P.
  sessionOk = true;
  states.set('t', 0, { replicas: [1, 2], leader: 2, leaderEpoch: 1, isr: [1, 2] });
  await rm.settled();
  now += 10;
  assert.ok(fs.answer(grant).granted);
  const grantedAt = now;
  now += 10;
  states.set('t', 0, { replicas: [1, 2], leader: 1, leaderEpoch: 2, isr: [1, 2] });
  await rm.settled();
  const held = rm.leaderFor('t', 0, 2, true);
  assert.ok(!(held instanceof Leadership) && /promised another leader's failsafe check/.test(held.message), 'held by the promise');
  assert.equal(rm.acksAll(leadership(rm), 0), 'not-leader');
  now = grantedAt + 6000;
  assert.ok(rm.leaderFor('t', 0, 2, true) instanceof Leadership, 'the promise ran out: the new leadership writes');
  assert.equal(log.logEndOffset, 0);
});

test('while this broker\'s epoch is not handled (leadershipFenced), a state naming it leader is no role: produce and fetch refused, no follow; refresh() after the fence lifts makes it leader; a fence closing on a live leadership refuses its writes at once and drops it on refresh()', async (t) => {
  let fence: string | undefined = 'broker 1 epoch 7 not handled';
  const { states, follower, rm, log } = await setup(t, { leadershipFenced: () => fence });
  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 3, isr: [1, 2, 3] });
  rm.start();
  await rm.settled();
  assert.equal(rm.role('t', 0), 'none');
  const refused = rm.leaderFor('t', 0, undefined, true);
  assert.ok(!(refused instanceof Leadership) && refused.error === 'NOT_LEADER_OR_FOLLOWER', 'produce refused, retriable');
  assert.ok(!(rm.leaderFor('t', 0) instanceof Leadership), 'fetches refused');
  assert.deepEqual(follower.calls, [], 'it does not follow anybody either');
  assert.deepEqual(log.leaderEpochs(), [], 'epoch 3 not assigned: this broker never led at it');

  fence = undefined;
  rm.refresh();
  await rm.settled();
  assert.equal(rm.role('t', 0), 'leader');
  const l = leadership(rm);
  assert.equal(l.leaderEpoch, 3);
  assert.ok(rm.leaderFor('t', 0, undefined, true) instanceof Leadership, 'produce accepted');

  // A re-registration: the fence closes on a live leadership.
  fence = 'broker 1 epoch 9 not handled';
  const w = rm.leaderFor('t', 0, undefined, true);
  assert.ok(!(w instanceof Leadership) && w.error === 'NOT_LEADER_OR_FOLLOWER' && w.message === fence, 'writes refused before the re-apply');
  assert.equal(rm.acksAll(l, 0), 'not-leader', 'a waiting acks=all is answered not-leader');
  rm.refresh();
  await rm.settled();
  assert.equal(rm.role('t', 0), 'none');
  assert.equal(rm.isCurrent(l), false, 'the leadership is gone');
});
