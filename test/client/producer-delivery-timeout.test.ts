// Every send settles within deliveryTimeoutMs wherever its batch waits (Kafka's batch expiry).
// Found in a chaos run: after a leader move a batch was held (client/partition-hold.ts) for a
// metadata refresh that never settled, so neither the batch nor the later ones of its
// partition (muted) ever settled, and the workload's stop waited for 90 minutes. Here the fake
// cluster's holdAnswer keeps an answer back for good, which the fake connection does not time
// out: the way a real request can wait past its requestTimeoutMs (its timer starts only once
// the frame is written; waits for a reconnect or a drain come before, and repeat).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/client/producer.js';
import { Api } from '../../src/protocol/api.js';
import { FakeCluster } from './fake-cluster.js';

const DELIVERY_MS = 400;
/** Slack over deliveryTimeoutMs for a loaded CI machine. */
const MARGIN_MS = 1_500;

/** How `p` settled and after how long; 'hung' when it did not within `boundMs` (the test's own bound). */
async function settleWithin<T>(p: Promise<T>, boundMs: number): Promise<{ outcome: 'resolved' | 'rejected' | 'hung'; err?: any; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hung'>((r) => { timer = setTimeout(() => r('hung'), boundMs); });
  try {
    const r = await Promise.race([p.then(() => 'resolved' as const, (err: unknown) => ({ err })), bound]);
    if (r === 'hung' || r === 'resolved') return { outcome: r, ms: Date.now() - t0 };
    return { outcome: 'rejected', err: r.err, ms: Date.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

test('a batch held for a retry whose metadata refresh never settles fails at the delivery timeout, and so do the later ones of its partition', async () => {
  const c = new FakeCluster(2);
  c.createTopic('t', [0]);
  const producer = new Producer({
    brokers: [c.url(0)], connectionFactory: c.factory, lingerMs: 0, retryBackoffMs: 10, retryBackoffMaxMs: 20, deliveryTimeoutMs: DELIVERY_MS,
  });
  await producer.send('t', { value: 'before', partition: 0 }); // metadata cached, producer id taken
  // The leader moves; the old one refuses with NOT_LEADER_OR_FOLLOWER, and the refresh the
  // retry waits for is never answered.
  c.moveLeader('t', 0, 1);
  let release!: () => void;
  const never = new Promise<void>((r) => { release = r; });
  c.holdAnswer = (api) => (api === Api.Metadata ? never : undefined);
  const first = producer.send('t', { value: 'held', partition: 0 });
  await new Promise((r) => setTimeout(r, 50)); // refused, now held for the refresh
  const later = producer.send('t', { value: 'muted', partition: 0 }); // its partition is muted behind the hold
  const [a, b] = await Promise.all([settleWithin(first, DELIVERY_MS + MARGIN_MS), settleWithin(later, DELIVERY_MS + MARGIN_MS)]);
  for (const [what, r] of [['held batch', a], ['muted batch', b]] as const) {
    assert.equal(r.outcome, 'rejected', `the ${what} settled (${r.outcome} after ${r.ms} ms)`);
    assert.equal(r.err.code, 'REQUEST_TIMED_OUT', `the ${what}: ${String(r.err)}`);
    assert.equal(r.err.retriable, true, 'REQUEST_TIMED_OUT is retriable in the error table');
  }
  assert.deepEqual(c.values('t', 0), ['before'], 'nothing was stored by the expired batches');
  // The refresh answers at last: the producer goes on, to the new leader, with nothing resent.
  c.holdAnswer = undefined;
  release();
  await producer.send('t', { value: 'after', partition: 0 });
  assert.deepEqual(c.values('t', 0), ['before', 'after']);
  await producer.close();
});

test('a batch in flight on a request that is never answered fails at the delivery timeout once, and a late answer is not retried', async () => {
  const c = new FakeCluster(1);
  c.createTopic('t', [0]);
  const producer = new Producer({ brokers: [c.url(0)], connectionFactory: c.factory, lingerMs: 0, deliveryTimeoutMs: DELIVERY_MS, idempotent: false });
  await producer.send('t', { value: 'before', partition: 0 });
  let release!: () => void;
  const never = new Promise<void>((r) => { release = r; });
  // The broker stores the batch (the fake decides before holding), but its answer never comes.
  c.holdAnswer = (api) => (api === Api.Produce ? never : undefined);
  const r = await settleWithin(producer.send('t', { value: 'lost answer', partition: 0 }), DELIVERY_MS + MARGIN_MS);
  assert.equal(r.outcome, 'rejected', `the in-flight send settled (${r.outcome} after ${r.ms} ms)`);
  assert.equal(r.err.code, 'REQUEST_TIMED_OUT');
  c.holdAnswer = undefined;
  // The expired request gave its slot back: the next send goes out while it still hangs.
  await producer.send('t', { value: 'next', partition: 0 });
  const produces = c.count(Api.Produce);
  release(); // the late answer of the expired batch: ignored, not retried
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(c.count(Api.Produce), produces, 'the expired batch was not sent again');
  assert.deepEqual(c.values('t', 0), ['before', 'lost answer', 'next'], 'stored once (a timeout may have been stored, as in Kafka)');
  await producer.close();
});
