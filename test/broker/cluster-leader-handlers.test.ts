// Produce, Fetch, ListOffsets and OffsetsForLeaderEpoch in cluster mode (ctx.replicas set),
// with a real ReplicaManager on a real log and follower fetches made by the test as replica
// fetches (replicaId): acks=all waits for the ISR, consumers see only what is below the high
// watermark, epochs and roles are checked, and a self-fenced leader refuses writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleProduce } from '../../src/broker/handle-produce.js';
import { handleFetch } from '../../src/broker/handle-fetch.js';
import { handleListOffsets } from '../../src/broker/handle-list-offsets.js';
import { handleOffsetsForLeaderEpoch } from '../../src/broker/handle-offsets-for-leader-epoch.js';
import type { BrokerContext } from '../../src/broker/context.js';
import { Api, LATEST, type FetchRequest, type ProduceRequest } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';
import type { PartitionState } from '../../src/cluster/partition-state.js';
import { ReplicaManager, Leadership } from '../../src/replication/replica-manager.js';
import { batchOf, recordsIn } from '../storage/helpers.js';
import { testContext } from './test-context.js';
import { FedStates, RecordingFollower, TestClock } from '../replication/helpers.js';

interface Setup {
  ctx: BrokerContext;
  states: FedStates;
  rm: ReplicaManager;
  clock: TestClock;
  session: { valid: boolean };
}

async function setup(t: { after(fn: () => Promise<void>): void }, state: PartitionState, minIsr = 2): Promise<Setup> {
  const tc = await testContext();
  await tc.logs.createTopic('t', 1);
  const states = new FedStates();
  const clock = new TestClock();
  const session = { valid: true };
  const rm = new ReplicaManager({
    nodeId: 1, states, log: (topic, p) => tc.logs.log(topic, p), follower: new RecordingFollower(),
    writeIsr: () => Promise.reject(new Error('no ISR write expected in this test')),
    sessionValid: () => session.valid, replicaLagTimeMs: 10_000, minInsyncReplicas: () => minIsr, now: clock.now,
    onHighWatermark: (topic, p) => { tc.ctx.delayed.wakePartition(topic, p); }, isrTimer: false,
  });
  const ctx: BrokerContext = { ...tc.ctx, replicas: rm };
  t.after(async () => { tc.ctx.delayed.finishAll(); await rm.stop(); await tc.close(); });
  states.set('t', 0, state);
  rm.start();
  await rm.settled();
  return { ctx, states, rm, clock, session };
}

let ids = 0;
function produceReq(records: Buffer, acks: 0 | 1 | -1, timeoutMs?: number): ProduceRequest {
  return { id: ++ids, api: Api.Produce, version: 0, acks, partitions: [{ topic: 't', partition: 0, records }], ...(timeoutMs === undefined ? {} : { timeoutMs }) } as ProduceRequest;
}

function fetchReq(offset: number, o: { replicaId?: number; epoch?: number; maxWaitMs?: number } = {}): FetchRequest {
  return {
    id: ++ids, api: Api.Fetch, version: 0, maxWaitMs: o.maxWaitMs ?? 0, minBytes: 1, maxBytes: 1 << 20,
    ...(o.replicaId === undefined ? {} : { replicaId: o.replicaId }),
    partitions: [{ topic: 't', partition: 0, offset, maxBytes: 1 << 20, ...(o.epoch === undefined ? {} : { currentLeaderEpoch: o.epoch }) }],
  } as FetchRequest;
}

/** Tracks a promise's settling, so a test can assert that something is still waiting. */
function track<T>(p: Promise<T>): { done: () => boolean; value: Promise<T> } {
  let done = false;
  void p.finally(() => { done = true; }).catch(() => {});
  return { done: () => done, value: p };
}

/** Lets every queued microtask and immediate run (wakes and tries are asynchronous). */
const turn = () => new Promise((r) => setImmediate(r));

/** Waits until a request is parked in the purgatory (it answered nothing yet); the bound leaves room for CI stalls. */
async function parked(ctx: BrokerContext, what: { done: () => boolean }): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (ctx.delayed.size === 0) {
    if (what.done()) assert.fail('answered at once instead of waiting');
    if (Date.now() > deadline) assert.fail('nothing parked within 30 s');
    await turn();
  }
}

async function produceOk(ctx: BrokerContext, records: Buffer, acks: 1 | -1): Promise<number> {
  const res = await handleProduce(ctx, produceReq(records, acks));
  const p = res!.partitions[0];
  assert.equal(p.error, undefined, JSON.stringify(p.error));
  return p.baseOffset!;
}

test('acks=all is answered once every ISR member fetched past the batch, not before', async (t) => {
  const { ctx, rm } = await setup(t, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
  const produced = track(handleProduce(ctx, produceReq(batchOf(2, 0), -1)));
  await parked(ctx, produced);
  assert.equal(produced.done(), false);
  // Follower 2 has both records, follower 3 has none yet.
  const f2 = await handleFetch(ctx, fetchReq(0, { replicaId: 2 }));
  assert.equal(recordsIn(f2.partitions[0].records as Buffer).length, 2, 'a replica fetch reads past the high watermark');
  assert.equal(f2.partitions[0].highWatermark, 0);
  await handleFetch(ctx, fetchReq(2, { replicaId: 2 }));
  await handleFetch(ctx, fetchReq(0, { replicaId: 3 }));
  await turn();
  assert.equal(produced.done(), false, 'follower 3 has not got the batch: still waiting');
  const f3 = await handleFetch(ctx, fetchReq(2, { replicaId: 3 }));
  assert.equal(f3.partitions[0].highWatermark, 2);
  const res = await produced.value;
  assert.deepEqual(res!.partitions[0], { topic: 't', partition: 0, baseOffset: 0 });
  const l = rm.leaderFor('t', 0);
  assert.ok(l instanceof Leadership && l.highWatermark === 2);
});

test('acks=all with fewer in-sync replicas than minInsyncReplicas: NOT_ENOUGH_REPLICAS and nothing appended; acks=1 still appends', async (t) => {
  const { ctx } = await setup(t, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1] });
  const res = await handleProduce(ctx, produceReq(batchOf(1, 0), -1));
  assert.equal(res!.partitions[0].error?.code, ERRORS.NOT_ENOUGH_REPLICAS.code);
  assert.equal(ctx.logs.log('t', 0)!.logEndOffset, 0, 'not appended');
  assert.equal(await produceOk(ctx, batchOf(1, 0), 1), 0);
  assert.deepEqual(ctx.logs.log('t', 0)!.leaderEpochs(), [{ epoch: 0, startOffset: 0 }]);
});

test('the ISR shrinking below minInsyncReplicas while acks=all waits: NOT_ENOUGH_REPLICAS_AFTER_APPEND', async (t) => {
  const { ctx, states } = await setup(t, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1, 2] });
  const produced = track(handleProduce(ctx, produceReq(batchOf(1, 0), -1)));
  await parked(ctx, produced);
  // The controller removes dead follower 2 from the ISR (same leader, same epoch).
  states.set('t', 0, { replicas: [1, 2, 3], leader: 1, leaderEpoch: 0, isr: [1] });
  const res = await produced.value;
  assert.equal(res!.partitions[0].error?.code, ERRORS.NOT_ENOUGH_REPLICAS_AFTER_APPEND.code);
  assert.equal(ctx.logs.log('t', 0)!.logEndOffset, 1, 'it was appended');
});

test('acks=all times out with REQUEST_TIMED_OUT after the request\'s timeoutMs', async (t) => {
  const { ctx } = await setup(t, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, 1);
  const res = await handleProduce(ctx, produceReq(batchOf(1, 0), -1, 50));
  assert.equal(res!.partitions[0].error?.code, ERRORS.REQUEST_TIMED_OUT.code);
});

test('a consumer never sees records at or above the high watermark; a parked consumer fetch wakes on its move, not on appends', async (t) => {
  const { ctx } = await setup(t, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, 1);
  await produceOk(ctx, batchOf(2, 0), 1); // offsets 0-1
  await produceOk(ctx, batchOf(3, 2), 1); // offsets 2-4
  let c = await handleFetch(ctx, fetchReq(0));
  assert.equal(c.partitions[0].records.length, 0, 'nothing below a high watermark of 0');
  assert.equal(c.partitions[0].highWatermark, 0);
  await handleFetch(ctx, fetchReq(2, { replicaId: 2 })); // follower holds 0-1: HW 2
  c = await handleFetch(ctx, fetchReq(0));
  assert.deepEqual(recordsIn(c.partitions[0].records as Buffer).map((r) => r.offset), [0, 1]);
  assert.equal(c.partitions[0].highWatermark, 2);
  const latest = await handleListOffsets(ctx, { id: ++ids, api: Api.ListOffsets, version: 0, partitions: [{ topic: 't', partition: 0, timestamp: LATEST }] });
  assert.equal(latest.partitions[0].offset, 2, 'LATEST is the high watermark');

  const consumer = track(handleFetch(ctx, fetchReq(2, { maxWaitMs: 60_000 })));
  await parked(ctx, consumer);
  await produceOk(ctx, batchOf(1, 5), 1); // offset 5
  await turn();
  assert.equal(consumer.done(), false, 'an append does not move the high watermark: the consumer keeps waiting');
  await handleFetch(ctx, fetchReq(6, { replicaId: 2 }));
  const got = await consumer.value;
  assert.deepEqual(recordsIn(got.partitions[0].records as Buffer).map((r) => r.offset), [2, 3, 4, 5]);
  assert.equal(got.partitions[0].highWatermark, 6);
});

test('a new leader whose high watermark is below its epoch start answers LATEST with OFFSET_NOT_AVAILABLE (KIP-207), never a lower offset than before', async (t) => {
  const { ctx, states } = await setup(t, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, 1);
  await produceOk(ctx, batchOf(5, 0), 1); // offsets 0-4
  await handleFetch(ctx, fetchReq(5, { replicaId: 2 })); // HW 5
  const list = (timestamp: number) => handleListOffsets(ctx, { id: ++ids, api: Api.ListOffsets, version: 0, partitions: [{ topic: 't', partition: 0, timestamp }] });
  assert.equal((await list(LATEST)).partitions[0].offset, 5);
  await produceOk(ctx, batchOf(3, 5), 1); // offsets 5-7, not fetched by the follower yet
  // Another leader for a moment, then this broker again at epoch 2: its high watermark (the one it
  // had, 5) is below its epoch start (its log end, 8); what a previous leader answered may be up to 8.
  states.set('t', 0, { replicas: [1, 2], leader: 2, leaderEpoch: 1, isr: [1, 2] });
  states.set('t', 0, { replicas: [1, 2], leader: 1, leaderEpoch: 2, isr: [1, 2] });
  await ctx.replicas!.settled();
  const lagging = (await list(LATEST)).partitions[0];
  assert.equal(lagging.error?.code, ERRORS.OFFSET_NOT_AVAILABLE.code, JSON.stringify(lagging));
  assert.match(lagging.error!.message, /has not reached the start of leader epoch 2 \(8\)/);
  assert.equal((await list(-2)).partitions[0].offset, 0, 'EARLIEST is answered');
  const early = (await list(1_700_000_000_000 + 1)).partitions[0];
  assert.equal(early.offset, 1, `a timestamp found below the high watermark is answered: ${JSON.stringify(early)}`);
  assert.equal((await list(1_700_000_000_000 + 6)).partitions[0].error?.code, ERRORS.OFFSET_NOT_AVAILABLE.code, 'one found at or past it is not');
  await handleFetch(ctx, fetchReq(8, { replicaId: 2 }));
  assert.equal((await list(LATEST)).partitions[0].offset, 8, 'answered once the high watermark reached the epoch start');
});

test('epochs and roles: FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER', async (t) => {
  const { ctx, states } = await setup(t, { replicas: [1, 2], leader: 1, leaderEpoch: 3, isr: [1, 2] }, 1);
  const code = async (req: FetchRequest) => (await handleFetch(ctx, req)).partitions[0].error?.code;
  assert.equal(await code(fetchReq(0, { epoch: 2 })), ERRORS.FENCED_LEADER_EPOCH.code);
  assert.equal(await code(fetchReq(0, { epoch: 4 })), ERRORS.UNKNOWN_LEADER_EPOCH.code);
  assert.equal(await code(fetchReq(0, { epoch: 2, replicaId: 2 })), ERRORS.FENCED_LEADER_EPOCH.code);
  assert.equal(await code(fetchReq(0, { epoch: 3, replicaId: 2 })), undefined);
  assert.equal(await code(fetchReq(0, { epoch: 3, replicaId: 7 })), ERRORS.NOT_LEADER_OR_FOLLOWER.code, 'broker 7 holds no replica');
  const ofle = (current: number) => handleOffsetsForLeaderEpoch(ctx, {
    id: ++ids, api: Api.OffsetsForLeaderEpoch, version: 0, partitions: [{ topic: 't', partition: 0, currentLeaderEpoch: current, leaderEpoch: 3 }],
  });
  assert.deepEqual((await ofle(3)).partitions[0], { topic: 't', partition: 0, leaderEpoch: 3, endOffset: 0 });
  assert.equal((await ofle(2)).partitions[0].error?.code, ERRORS.FENCED_LEADER_EPOCH.code);
  assert.equal((await ofle(5)).partitions[0].error?.code, ERRORS.UNKNOWN_LEADER_EPOCH.code);

  // Broker 2 leads now: this one answers nothing as leader.
  states.set('t', 0, { replicas: [1, 2], leader: 2, leaderEpoch: 4, isr: [1, 2] });
  await ctx.replicas!.settled();
  assert.equal(await code(fetchReq(0)), ERRORS.NOT_LEADER_OR_FOLLOWER.code);
  assert.equal(await code(fetchReq(0, { replicaId: 2, epoch: 4 })), ERRORS.NOT_LEADER_OR_FOLLOWER.code);
  assert.equal((await ofle(4)).partitions[0].error?.code, ERRORS.NOT_LEADER_OR_FOLLOWER.code);
  const p = await handleProduce(ctx, produceReq(batchOf(1, 0), 1));
  assert.equal(p!.partitions[0].error?.code, ERRORS.NOT_LEADER_OR_FOLLOWER.code);
  const lo = await handleListOffsets(ctx, { id: ++ids, api: Api.ListOffsets, version: 0, partitions: [{ topic: 't', partition: 0, timestamp: LATEST }] });
  assert.equal(lo.partitions[0].error?.code, ERRORS.NOT_LEADER_OR_FOLLOWER.code);
  assert.equal(ctx.logs.log('t', 0)!.logEndOffset, 0);
});

test('a leader without a valid etcd session refuses produce, and a waiting acks=all answers NOT_LEADER_OR_FOLLOWER', async (t) => {
  const { ctx, session } = await setup(t, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, 1);
  const waiting = track(handleProduce(ctx, produceReq(batchOf(1, 0), -1)));
  await parked(ctx, waiting);
  session.valid = false;
  const refused = await handleProduce(ctx, produceReq(batchOf(1, 1), 1));
  assert.equal(refused!.partitions[0].error?.code, ERRORS.NOT_LEADER_OR_FOLLOWER.code);
  assert.equal(ctx.logs.log('t', 0)!.logEndOffset, 1, 'the refused batch was not appended');
  // The follower's fetch moves the high watermark past the waiting batch, but the leader is fenced: no acknowledgement.
  await handleFetch(ctx, fetchReq(1, { replicaId: 2 }));
  const res = await waiting.value;
  assert.equal(res!.partitions[0].error?.code, ERRORS.NOT_LEADER_OR_FOLLOWER.code);
});

test('a replica fetch past the leader\'s log end is OFFSET_OUT_OF_RANGE and counts as no progress', async (t) => {
  const { ctx, rm } = await setup(t, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }, 1);
  await produceOk(ctx, batchOf(2, 0), 1);
  const res = await handleFetch(ctx, fetchReq(9, { replicaId: 2 }));
  assert.equal(res.partitions[0].error?.code, ERRORS.OFFSET_OUT_OF_RANGE.code);
  const l = rm.leaderFor('t', 0);
  assert.ok(l instanceof Leadership);
  assert.equal(l.highWatermark, 0, 'the follower holds nothing the leader knows of');
  assert.deepEqual(rm.stats().followers, [{ topic: 't', partition: 0, replica: 2, lagMessages: 2 }]);
});
