// Workers of one group sharing a connection (QueueConsumer's shareConnectionWith) against the
// real broker: their acks of one tick ride on one acquire (or, with no acquire due, go out as
// one ShareAck), a worker closing with acks
// still batched gets them answered before it leaves, and the others keep the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { brokerForFile, metricValue } from './broker-helpers.js';

const file = brokerForFile();

async function produce(topic: string, n: number): Promise<void> {
  const admin = new Admin({ url: file.broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url: file.broker.url, acks: 'all' });
  await p.send(topic, Array.from({ length: n }, (_, i) => ({ value: `job-${i}` })));
  await p.close();
}

async function describe(groupId: string) {
  const qadmin = new QueueAdmin({ url: file.broker.url });
  try {
    return await qadmin.describeGroup(groupId);
  } finally {
    await qadmin.close();
  }
}

/** ShareAck requests the broker served so far (no sample before the first one). */
const shareAcks = () => metricValue(file.broker.httpUrl, 'sluice_requests_total', { api: 'ShareAck' })
  .catch((err: Error) => { if (/0 samples/.test(err.message)) return 0; throw err; });

/** Two workers of `groupId`, the second on the first's connection, each holding one job. */
async function twoWorkersOneJobEach(t: { after: (fn: () => Promise<unknown>) => void }, topic: string, groupId: string, extra: { maxMessages?: number } = {}) {
  const w1 = new QueueConsumer({ url: file.broker.url, groupId, topics: topic, workerId: 'w1', concurrency: 1, maxWaitMs: 200, ...extra });
  const w2 = new QueueConsumer({ url: file.broker.url, groupId, topics: topic, workerId: 'w2', concurrency: 1, maxWaitMs: 200, shareConnectionWith: w1, ...extra });
  t.after(() => Promise.all([w2.close(), w1.close()]));
  const it1 = w1[Symbol.asyncIterator]();
  const it2 = w2[Symbol.asyncIterator]();
  const j1 = (await it1.next()).value as Job;
  const j2 = (await it2.next()).value as Job;
  assert.notEqual(j1.offset, j2.offset);
  return { w1, w2, it1, it2, j1, j2 };
}

test('two workers sharing a connection: their acks of one tick ride on the acquire one of them sends for its freed slot, and both are acked', async (t) => {
  await produce('q-shared', 4);
  const { j1, j2 } = await twoWorkersOneJobEach(t, 'q-shared', 'g-shared');
  const before = await shareAcks();
  await Promise.all([j1.ack(), j2.ack()]);
  assert.equal(await shareAcks() - before, 0, 'no ShareAck: both acks were carried by an acquire');
  const d = await describe('g-shared');
  assert.equal(d.acked, 2);
});

test('two workers sharing a connection whose loops stopped asking: their acks of one tick are one ShareAck', async (t) => {
  await produce('q-shared-idle', 4);
  // maxMessages 1: neither worker asks for more once it has its job, so no acquire is due.
  const { j1, j2 } = await twoWorkersOneJobEach(t, 'q-shared-idle', 'g-shared-idle', { maxMessages: 1 });
  const before = await shareAcks();
  await Promise.all([j1.ack(), j2.ack()]);
  assert.equal(await shareAcks() - before, 1, 'one ShareAck for both workers');
  const d = await describe('g-shared-idle');
  assert.equal(d.acked, 2);
});

test('a worker closing while its ack is batched: the ack is answered before it leaves, and the other worker keeps the connection', async (t) => {
  await produce('q-shared-close', 3);
  const { w1, it2, j1, j2 } = await twoWorkersOneJobEach(t, 'q-shared-close', 'g-shared-close');
  // The ack is only queued for the next tick when close() starts.
  const acked = j1.ack();
  const closed = w1.close();
  await acked;
  await closed;
  // w2 goes on over the connection w1 opened.
  await j2.ack();
  const j3 = (await it2.next()).value as Job;
  await j3.ack();
  const d = await describe('g-shared-close');
  assert.equal(d.acked, 3, 'every job acked once, none released by w1\'s leave');
  assert.equal(d.redeliveries, 0);
  assert.deepEqual(d.workers.map((w) => w.workerId), ['w2']);
});
