// The high-watermark checkpoint (Kafka's replication-offset-checkpoint): its file format, the
// checkpointer that reads it once and writes it while the broker runs, and the replica manager
// starting a restarted replica's high watermark from it (bounded by the log end) instead of the
// log start, with a leader whose high watermark is below its epoch start saying so (KIP-207).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openLogManager } from '../../src/storage/log-manager.js';
import { nodeFileSystem } from '../../src/storage/file-system.js';
import { CheckpointFormatError } from '../../src/storage/leader-epoch-checkpoint.js';
import {
  HIGH_WATERMARK_CHECKPOINT_FILE, formatHighWatermarks, parseHighWatermarks,
} from '../../src/storage/high-watermark-checkpoint.js';
import { HighWatermarkCheckpointer } from '../../src/replication/high-watermark-checkpointer.js';
import { ReplicaManager, Leadership } from '../../src/replication/replica-manager.js';
import { tpKey } from '../../src/protocol/topic-partition.js';
import { tempDir, batchOf } from '../storage/helpers.js';
import { FedStates, RecordingFollower, TestClock } from './helpers.js';

test('the file is Kafka\'s text layout, and a damaged one is refused naming the line', () => {
  const entries = [{ topic: 'orders', partition: 0, highWatermark: 1042 }, { topic: '__consumer_offsets', partition: 7, highWatermark: 0 }];
  const text = formatHighWatermarks(entries);
  assert.equal(text, '0\n2\norders 0 1042\n__consumer_offsets 7 0\n');
  assert.deepEqual(parseHighWatermarks(text), entries);
  assert.deepEqual(parseHighWatermarks('0\n0\n'), []);
  assert.throws(() => parseHighWatermarks('1\n0\n'), (e: Error) => e instanceof CheckpointFormatError && /line 1: version '1'/.test(e.message));
  assert.throws(() => parseHighWatermarks('0\n2\norders 0 5\n'), /2 entries announced, 1 present/);
  assert.throws(() => parseHighWatermarks('0\n1\norders 0\n'), /line 3: 'orders 0' is not 'topic partition highWatermark'/);
  assert.throws(() => parseHighWatermarks('0\n1\n../x 0 5\n'), /line 3/);
  assert.throws(() => parseHighWatermarks('0\n1\norders -1 5\n'), /line 3/);
});

test('the checkpointer: read once per partition, written when something moved, unasked entries kept, a damaged file ignored and said', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const empty = await HighWatermarkCheckpointer.open(dir, nodeFileSystem);
  assert.equal(empty.take('t', 0), undefined, 'no file: nothing checkpointed');

  let current = [{ topic: 't', partition: 0, highWatermark: 10 }];
  const first = await HighWatermarkCheckpointer.open(dir, nodeFileSystem);
  first.start(() => current, 3_600_000);
  await first.checkpoint();
  current = [{ topic: 't', partition: 0, highWatermark: 12 }, { topic: 't', partition: 1, highWatermark: 3 }];
  await first.stop();
  assert.equal(await readFile(join(dir, HIGH_WATERMARK_CHECKPOINT_FILE), 'utf8'), '0\n2\nt 0 12\nt 1 3\n', 'the clean shutdown wrote the last values');

  const second = await HighWatermarkCheckpointer.open(dir, nodeFileSystem);
  assert.equal(second.take('t', 0), 12);
  assert.equal(second.take('t', 0), undefined, 'once: a later role does not reuse it');
  // Partition 1 got no role in this life: its entry survives the next write.
  second.start(() => [{ topic: 't', partition: 0, highWatermark: 20 }], 3_600_000);
  await second.stop();
  assert.equal(await readFile(join(dir, HIGH_WATERMARK_CHECKPOINT_FILE), 'utf8'), '0\n2\nt 0 20\nt 1 3\n');

  await writeFile(join(dir, HIGH_WATERMARK_CHECKPOINT_FILE), '0\n5\ngarbage');
  const warned: Record<string, unknown>[] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (event: string, f: Record<string, unknown>) => { warned.push({ event, ...f }); } };
  const third = await HighWatermarkCheckpointer.open(dir, nodeFileSystem, logger);
  assert.equal(third.take('t', 0), undefined);
  assert.equal(warned[0]?.event, 'replication.high-watermark-checkpoint.ignored');
  assert.match(String(warned[0]?.error), /line 2: 5 entries announced/);
});

async function restartedManager(t: { after(fn: () => Promise<void>): void }, checkpointed: Map<string, number>) {
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  await logs.createTopic('t', 2);
  // The log of the previous life: 10 records, of which the followers had fetched 7 when it was killed.
  await logs.log('t', 0)!.append(batchOf(10, 0), { leaderEpoch: 0 });
  await logs.log('t', 1)!.append(batchOf(4, 0), { leaderEpoch: 0 });
  const states = new FedStates();
  const follower = new RecordingFollower();
  const asked: string[] = [];
  const rm = new ReplicaManager({
    nodeId: 1, states, log: (topic, p) => logs.log(topic, p), follower,
    writeIsr: () => Promise.reject(new Error('no ISR write expected in this test')),
    sessionValid: () => true, replicaLagTimeMs: 10_000, minInsyncReplicas: () => 1, now: new TestClock().now, isrTimer: false,
    checkpointedHighWatermark: (topic, p) => { asked.push(`${topic}-${p}`); return checkpointed.get(tpKey(topic, p)); },
  });
  t.after(async () => { await rm.stop(); await logs.close(); await cleanup(); });
  return { rm, states, follower, asked, log: logs.log('t', 0)! };
}

function leadership(rm: ReplicaManager, p = 0): Leadership {
  const l = rm.leaderFor('t', p);
  if (!(l instanceof Leadership)) assert.fail(`expected to lead t-${p}, got ${l.error}`);
  return l;
}

test('a restarted leader starts its high watermark from the checkpoint, bounded by its log end, and says it lags until it reaches its epoch start', async (t) => {
  const { rm, states, asked, follower } = await restartedManager(t, new Map([[tpKey('t', 0), 7], [tpKey('t', 1), 99]]));
  // Leading again at the same epoch (the bounce the controller had not seen yet), followers in the ISR.
  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
  states.set('t', 1, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
  rm.start();
  await rm.settled();
  const l0 = leadership(rm, 0);
  assert.equal(l0.highWatermark, 7, 'from the checkpoint, not the log start');
  assert.equal(l0.progress.leaderEpochStartOffset, 10);
  assert.equal(l0.progress.highWatermarkLagging, true, 'below the epoch start: ListOffsets LATEST refuses (KIP-207)');
  assert.equal(leadership(rm, 1).highWatermark, 4, 'a checkpoint past the log end is cut to it');
  rm.followerFetched(l0, 2, 10);
  rm.followerFetched(l0, 3, 10);
  assert.equal(l0.highWatermark, 10);
  assert.equal(l0.progress.highWatermarkLagging, false);
  assert.deepEqual(rm.highWatermarks().sort((a, b) => a.partition - b.partition), [
    { topic: 't', partition: 0, highWatermark: 10 }, { topic: 't', partition: 1, highWatermark: 4 },
  ], 'what the next checkpoint writes');

  // A later role of this process does not go back to the checkpoint: as a follower it starts
  // from the high watermark it had as leader.
  states.set('t', 0, { replicas: [1, 2, 3], leader: 2, leaderEpoch: 1, isr: [1, 2, 3] });
  await rm.settled();
  assert.deepEqual(asked, ['t-0', 't-1'], 'asked once per partition');
  assert.equal(follower.following.get(tpKey('t', 0))?.highWatermark, 10, 'the high watermark it had as leader, not the checkpoint');
});

test('a restarted follower hands the checkpoint to the follower until the leader answers; no checkpoint: the log start as before', async (t) => {
  const { rm, states, follower } = await restartedManager(t, new Map([[tpKey('t', 0), 7]]));
  states.set('t', 0, { replicas: [1, 2, 3], leader: 2, leaderEpoch: 1, isr: [1, 2, 3] });
  states.set('t', 1, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
  rm.start();
  await rm.settled();
  assert.equal(follower.following.get(tpKey('t', 0))?.highWatermark, 7);
  const l1 = leadership(rm, 1);
  assert.equal(l1.highWatermark, 0, 'nothing checkpointed: the log start');
  assert.equal(l1.progress.highWatermarkLagging, true);
});
