// ShareAckBatcher: the acks of the workers sharing a connection, one ShareAck per tick; each
// worker's failures stay its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShareAckBatcher } from '../../src/client/share-ack-batcher.js';
import type { ShareAckRequest, ShareAckResponse } from '../../src/protocol/api.js';

type Body = Omit<ShareAckRequest, 'id' | 'api' | 'version'>;
type Entry = Body['entries'][number];

/** A broker's ShareAck as a function: `holder` says which worker holds each offset; `coalescing` false answers as a broker before `workers`. */
function fakeBroker(holder: Record<number, string>, coalescing = true) {
  const sent: Body[] = [];
  const acked = new Set<number>();
  const settle = (workerId: string, entries: Entry[]) => entries.map((e) => {
    if (!e.offsets.every((o) => holder[o] === workerId)) return { error: { code: 121, message: `${workerId} does not hold one of ${e.offsets.join(',')}` } };
    for (const o of e.offsets) acked.add(o);
    return {};
  });
  const send = (body: Body): Promise<ShareAckResponse> => {
    sent.push(structuredClone(body));
    const results = settle(body.workerId, body.entries);
    const workers = coalescing ? body.workers?.map((w) => ({ results: settle(w.workerId, w.entries) })) : undefined;
    return Promise.resolve({ id: 0, results, ...(workers && { workers }) });
  };
  return { sent, acked, send };
}

const job = (offset: number, partition = 0) => ({ topic: 'jobs', partition, offset });
const outcome = (p: Promise<void>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? 'error');

test('acks of several workers made in one tick go out as one ShareAck, each worker\'s entries under its id', async () => {
  const broker = fakeBroker({ 0: 'w1', 1: 'w1', 2: 'w2', 3: 'w3' });
  const b = new ShareAckBatcher('g', broker.send);
  const all = await Promise.all([b.ack('w1', job(0)), b.ack('w2', job(2)), b.ack('w1', job(1)), b.ack('w3', job(3))].map(outcome));
  assert.deepEqual(all, ['ok', 'ok', 'ok', 'ok']);
  assert.equal(broker.sent.length, 1);
  assert.deepEqual(broker.sent[0], {
    groupId: 'g', workerId: 'w1', entries: [{ topic: 'jobs', partition: 0, offsets: [0, 1], type: 'ack' }],
    workers: [
      { workerId: 'w2', entries: [{ topic: 'jobs', partition: 0, offsets: [2], type: 'ack' }] },
      { workerId: 'w3', entries: [{ topic: 'jobs', partition: 0, offsets: [3], type: 'ack' }] },
    ],
  });
});

test('one worker\'s refused ack fails only that job: the other workers\' acks and its own good ones succeed', async () => {
  // w2 no longer holds offset 3 (its lock expired and w3 took it).
  const broker = fakeBroker({ 0: 'w1', 1: 'w1', 2: 'w2', 3: 'w3', 4: 'w2' });
  const b = new ShareAckBatcher('g', broker.send);
  const all = await Promise.all([b.ack('w1', job(0)), b.ack('w2', job(2)), b.ack('w2', job(3)), b.ack('w2', job(4)), b.ack('w1', job(1))].map(outcome));
  assert.deepEqual(all, ['ok', 'ok', 'INVALID_RECORD_STATE', 'ok', 'ok']);
  assert.deepEqual([...broker.acked].sort(), [0, 1, 2, 4]);
  // The merged entry of w2 failed as a whole, so only w2's offsets were sent again, one per entry.
  assert.equal(broker.sent.length, 2);
  assert.deepEqual(broker.sent[1].workerId, 'w2');
  assert.deepEqual(broker.sent[1].entries.map((e) => e.offsets), [[2], [3], [4]]);
  assert.equal(broker.sent[1].workers, undefined);
});

test('a failed request rejects every ack it carried, of every worker', async () => {
  const b = new ShareAckBatcher('g', () => Promise.reject(Object.assign(new Error('connection lost'), { code: 'NETWORK_ERROR' })));
  const all = await Promise.all([b.ack('w1', job(0)), b.ack('w2', job(1))].map(outcome));
  assert.deepEqual(all, ['NETWORK_ERROR', 'NETWORK_ERROR']);
});

test('a broker that ignores workers: the other workers\' acks are sent on their own, and later ticks are not coalesced', async () => {
  const broker = fakeBroker({ 0: 'w1', 1: 'w2', 2: 'w1', 3: 'w2' }, false);
  const b = new ShareAckBatcher('g', broker.send);
  assert.deepEqual(await Promise.all([b.ack('w1', job(0)), b.ack('w2', job(1))].map(outcome)), ['ok', 'ok']);
  assert.deepEqual(broker.sent.map((s) => [s.workerId, s.workers?.length ?? 0]), [['w1', 1], ['w2', 0]]);
  assert.deepEqual(await Promise.all([b.ack('w1', job(2)), b.ack('w2', job(3))].map(outcome)), ['ok', 'ok']);
  assert.deepEqual(broker.sent.slice(2).map((s) => [s.workerId, s.workers?.length ?? 0]), [['w1', 0], ['w2', 0]]);
  assert.deepEqual([...broker.acked].sort(), [0, 1, 2, 3]);
});

test('idle() waits for the acks made before it, retries included', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const broker = fakeBroker({ 0: 'w1', 1: 'w2' });
  const b = new ShareAckBatcher('g', async (body) => { await gate; return broker.send(body); });
  const acks = [b.ack('w1', job(0)), b.ack('w2', job(1))];
  let idle = false;
  const waiting = b.idle().then(() => { idle = true; });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(idle, false, 'the ShareAck is not answered yet');
  release();
  await waiting;
  assert.deepEqual([...broker.acked].sort(), [0, 1]);
  await Promise.all(acks);
});

test('acks made while a ShareAck is out wait for its answer, then go out together', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const broker = fakeBroker({ 0: 'w1', 1: 'w2', 2: 'w1', 3: 'w3' });
  const b = new ShareAckBatcher('g', async (body) => { const res = broker.send(body); await gate; return res; });
  const first = b.ack('w1', job(0));
  const tick = () => new Promise((r) => setImmediate(r));
  await tick();
  await tick();
  assert.equal(broker.sent.length, 1, 'the first ShareAck is out');
  // Three more acks, each in a tick of its own, while the first is unanswered.
  const later = [b.ack('w2', job(1))];
  await tick();
  later.push(b.ack('w1', job(2)));
  await tick();
  later.push(b.ack('w3', job(3)));
  await tick();
  assert.equal(broker.sent.length, 1, 'nothing more sent while the first is out');
  release();
  assert.deepEqual(await Promise.all([first, ...later].map(outcome)), ['ok', 'ok', 'ok', 'ok']);
  assert.equal(broker.sent.length, 2, 'the three later acks in one request');
  assert.deepEqual([broker.sent[1].workerId, ...(broker.sent[1].workers ?? []).map((w) => w.workerId)], ['w2', 'w1', 'w3']);
});

test('give-backs travel with their worker\'s holder token, one worker entry per token; acks name none', async () => {
  const sent: Body[] = [];
  // A broker whose current tokens are w1:h1 and w2:h2-new: a worker entry under another token fails whole.
  const current: Record<string, string> = { w1: 'h1', w2: 'h2-new' };
  const settle = (workerId: string, holder: string | undefined, entries: Entry[]) => entries.map(() => (holder !== undefined && holder !== current[workerId] ? { error: { code: 121, message: 'stale holder' } } : {}));
  const b = new ShareAckBatcher('g', (body) => {
    sent.push(structuredClone(body));
    const workers = body.workers?.map((w) => ({ results: settle(w.workerId, w.holder, w.entries) }));
    return Promise.resolve({ id: 0, results: settle(body.workerId, body.holder, body.entries), ...(workers && { workers }) });
  });
  const all = await Promise.all([
    b.giveBack('w1', job(0), 'h1', 'worker closing'), b.giveBack('w2', job(1), 'h2-old', 'worker closing'), b.ack('w2', job(2)), b.giveBack('w1', job(3), 'h1', 'worker closing'),
  ].map(outcome));
  assert.deepEqual(all, ['ok', 'INVALID_RECORD_STATE', 'ok', 'ok']);
  assert.equal(sent.length, 1);
  const release = (offsets: number[]) => ({ topic: 'jobs', partition: 0, offsets, type: 'release', kind: 'unstarted', reason: 'worker closing' });
  assert.deepEqual(sent[0], {
    groupId: 'g', workerId: 'w1', holder: 'h1', entries: [release([0, 3])],
    workers: [
      { workerId: 'w2', holder: 'h2-old', entries: [release([1])] },
      { workerId: 'w2', entries: [{ topic: 'jobs', partition: 0, offsets: [2], type: 'ack' }] },
    ],
  });
});

test('one worker\'s settles are grouped by partition and kind in first-seen order, however acks and give-backs interleave', async () => {
  // byPartition joins a settle to the entry of the one before it when they match, without a
  // key: a give-back must never join an ack's entry, nor one with another reason.
  const broker = fakeBroker(Object.fromEntries(Array.from({ length: 10 }, (_, o) => [o, 'w1'])));
  const b = new ShareAckBatcher('g', broker.send);
  const all = await Promise.all([
    b.ack('w1', job(0)), b.giveBack('w1', job(1), undefined, 'a'), b.giveBack('w1', job(2), undefined, 'a'), b.giveBack('w1', job(3), undefined, 'b'),
    b.giveBack('w1', job(4), undefined), b.ack('w1', job(5)), b.ack('w1', job(6, 1)), b.ack('w1', job(7)), b.giveBack('w1', job(8), undefined),
    b.giveBack('w1', job(9, 1), undefined, 'a'),
  ].map(outcome));
  assert.deepEqual(all, Array(10).fill('ok'));
  assert.equal(broker.sent.length, 1);
  const release = (offsets: number[], reason?: string, partition = 0) => ({ topic: 'jobs', partition, offsets, type: 'release', kind: 'unstarted', ...(reason !== undefined && { reason }) });
  assert.deepEqual(broker.sent[0].entries, [
    { topic: 'jobs', partition: 0, offsets: [0, 5, 7], type: 'ack' },
    release([1, 2], 'a'),
    release([3], 'b'),
    release([4, 8]),
    { topic: 'jobs', partition: 1, offsets: [6], type: 'ack' },
    release([9], 'a', 1),
  ]);
});
