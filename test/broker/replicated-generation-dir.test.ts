// A coordinator's state log on a replicated partition (src/broker/replicated-generation-dir.ts),
// with a real ReplicaManager on a real log: every write is pinned to the leader epoch the
// coordinator loaded under. A coordinator loaded at epoch E must not append once this broker
// leads again at E+2 (another broker led at E+1 meanwhile, and a new coordinator replayed
// state the one at E never saw): its delta would undo that state on the next replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrokerContext } from '../../src/broker/context.js';
import { replicatedGenerationDir } from '../../src/broker/replicated-generation-dir.js';
import type { SluiceError } from '../../src/errors.js';
import { ReplicaManager } from '../../src/replication/replica-manager.js';
import { batchOf } from '../storage/helpers.js';
import { testContext } from './test-context.js';
import { FedStates, RecordingFollower, TestClock } from '../replication/helpers.js';

test('a coordinator\'s writes are pinned to the epoch it loaded under: refused (NOT_COORDINATOR) after this broker leads again at a newer epoch', async (t) => {
  const tc = await testContext();
  await tc.logs.createTopic('t', 1);
  const states = new FedStates();
  const rm = new ReplicaManager({
    nodeId: 1, states, log: (topic, p) => tc.logs.log(topic, p), follower: new RecordingFollower(),
    writeIsr: () => Promise.reject(new Error('no ISR write expected in this test')),
    sessionValid: () => true, replicaLagTimeMs: 10_000, minInsyncReplicas: () => 1, now: new TestClock().now,
    onHighWatermark: (topic, p) => { tc.ctx.delayed.wakePartition(topic, p); }, isrTimer: false,
  });
  const ctx: BrokerContext = { ...tc.ctx, replicas: rm };
  t.after(async () => { tc.ctx.delayed.finishAll(); await rm.stop(); await tc.close(); });
  // Alone in the ISR: an acks=all write is answered once appended.
  const lead = async (leader: number, leaderEpoch: number) => {
    states.set('t', 0, { replicas: [1, 2], leader, leaderEpoch, isr: [leader] });
    await rm.settled();
  };
  rm.start();
  await lead(1, 3);
  const log = tc.logs.log('t', 0)!;

  const atThree = await replicatedGenerationDir(ctx, rm, 't', 0, 3).open(0);
  assert.deepEqual(await atThree.append(batchOf(1, 0)), { lastOffset: 0 }, 'written while leading at the load epoch');

  // Broker 2 leads at 4, then this broker again at 5: a coordinator loaded at 5 replays the log.
  await lead(2, 4);
  await lead(1, 5);
  const atFive = await replicatedGenerationDir(ctx, rm, 't', 0, 5).open(0);
  assert.deepEqual(await atFive.append(batchOf(1, 1)), { lastOffset: 1 });
  await assert.rejects(atThree.append(batchOf(1, 2)), (err: SluiceError) => err.code === 'NOT_COORDINATOR' && /epoch 3/.test(err.message),
    'the coordinator loaded at epoch 3 writes nothing at epoch 5');
  assert.equal(log.logEndOffset, 2, 'nothing appended by the stale coordinator');
  const dirAtThree = replicatedGenerationDir(ctx, rm, 't', 0, 3);
  await assert.rejects(dirAtThree.advanceLogStart!(0, 1), (err: SluiceError) => err.code === 'NOT_COORDINATOR', 'nor moves the log start');
  assert.equal(log.logStartOffset, 0);
});
