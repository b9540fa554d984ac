// Delayed and scheduled jobs against the real broker: a job produced with delayMs is not
// handed to a worker before its time and is handed out soon after; the jobs behind it are
// not held up; describe counts it as delayed meanwhile; a scheduled job keeps its time across
// a broker restart (the time is in the record's header, read again after the restart).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';

let broker: BrokerHandle | undefined;
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await broker?.stop();
});

/** Polls describe (an observable answer, no sleeps in between beyond the poll) until `ok`. */
async function describeUntil(qa: QueueAdmin, group: string, ok: (d: Awaited<ReturnType<QueueAdmin['describeGroup']>>) => boolean, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const d = await qa.describeGroup(group).catch(() => undefined);
    if (d && ok(d)) return d;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs a worker that records when each job (by value) reached its handler. */
function worker(url: string, group: string, topic: string) {
  const got = new Map<string, { at: number; job: Job }>();
  const waiters: { value: string; resolve: () => void }[] = [];
  const q = new QueueConsumer({ url, groupId: group, topics: topic, concurrency: 4, maxWaitMs: 500 });
  const run = q.run(async (job) => {
    const value = job.value?.toString() ?? '';
    got.set(value, { at: Date.now(), job });
    for (const w of waiters) if (w.value === value) w.resolve();
  });
  const waitFor = (value: string, ms = 30_000) => got.has(value) ? Promise.resolve() : new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`job '${value}' not delivered within ${ms} ms`)), ms);
    waiters.push({ value, resolve: () => { clearTimeout(t); resolve(); } });
  });
  const close = async () => { await q.close(); await run; };
  closers.push(close);
  return { got, waitFor, close };
}

test('a job delayed 2 s is handed out after 2 s, not before, and does not hold up the jobs behind it', async () => {
  broker = await startBroker();
  const topic = 'q-delay';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const qa = new QueueAdmin({ url: broker.url });
  closers.push(() => qa.close());
  const w = worker(broker.url, 'g-delay', topic);

  const p = new Producer({ url: broker.url, acks: 'all' });
  closers.push(() => p.close());
  const sentAt = Date.now();
  await p.send(topic, [{ value: 'later', delayMs: 2000 }, { value: 'now' }]);

  await w.waitFor('now');
  assert.equal(w.got.has('later'), false, 'the delayed job was handed out with the one behind it');
  // While it waits, the group counts it as delayed (describe; the same numbers feed the metrics).
  await describeUntil(qa, 'g-delay', (d) => d.delayed === 1 && d.inFlight === 0, 'the delayed job counted as delayed');
  await w.waitFor('later');
  const after = w.got.get('later')!.at - sentAt;
  assert.ok(after >= 2000, `delivered ${after} ms after the send, before its 2000 ms delay`);
  // Due jobs go out at the broker's next look (the tick is armed for the due time); a loaded
  // CI machine stalls for seconds, hence the room; never delivering would fail the wait.
  assert.ok(after < 2000 + 8000, `delivered ${after} ms after the send`);
  assert.equal(w.got.get('later')!.job.deliveryCount, 1, 'waiting is not a delivery attempt');
  await w.close();
});

test('a scheduled job keeps its time across a broker restart', async () => {
  assert.ok(broker);
  const topic = 'q-scheduled';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const deliverAt = Date.now() + 12_000;
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, { value: 'scheduled', deliverAt: new Date(deliverAt) });
  await p.close();

  // A worker takes the job into the group's state, where it waits for its time.
  const w1 = worker(broker.url, 'g-scheduled', topic);
  let qa = new QueueAdmin({ url: broker.url });
  await describeUntil(qa, 'g-scheduled', (d) => d.delayed === 1, 'the scheduled job waiting in the group');
  await qa.close();
  await w1.close();
  assert.equal(w1.got.size, 0, 'handed out before its time');

  await broker.restart();
  assert.ok(Date.now() < deliverAt - 1000, 'the restart took so long that the job came due meanwhile: nothing was tested');
  const w2 = worker(broker.url, 'g-scheduled', topic);
  qa = new QueueAdmin({ url: broker.url });
  closers.push(() => qa.close());
  await w2.waitFor('scheduled', 40_000);
  const at = w2.got.get('scheduled')!.at;
  assert.ok(at >= deliverAt, `delivered ${deliverAt - at} ms before its time after the restart`);
  assert.ok(at < deliverAt + 8000, `delivered ${at - deliverAt} ms after its time`);
  await w2.close();
});

test('the oldest unacked age of a delayed job counts from its delivery, not from when the group first read it', async () => {
  assert.ok(broker);
  const topic = 'q-delay-age';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const qa = new QueueAdmin({ url: broker.url });
  closers.push(() => qa.close());
  // The worker holds the job (its handler waits) until the group has been described.
  let received!: () => void;
  const got = new Promise<void>((resolve) => { received = resolve; });
  let finish!: () => void;
  const held = new Promise<void>((resolve) => { finish = resolve; });
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-delay-age', topics: topic, concurrency: 1, maxWaitMs: 500 });
  const run = q.run(async () => { received(); await held; });
  closers.push(async () => { finish(); await q.close(); await run; });
  // The worker is waiting when the job is appended, so the group reads it at once and it
  // waits in the group's window for its time (delayed, not in flight).
  await describeUntil(qa, 'g-delay-age', (d) => d.workers.length === 1, 'the worker joined');
  const DELAY = 10_000;
  const p = new Producer({ url: broker.url, acks: 'all' });
  closers.push(() => p.close());
  const sentAt = Date.now();
  await p.send(topic, { value: 'later', delayMs: DELAY });
  await describeUntil(qa, 'g-delay-age', (d) => d.delayed === 1, 'the delayed job waiting in the group');
  await got;
  const d = await qa.describeGroup('g-delay-age');
  const describedAt = Date.now();
  assert.equal(d.inFlight, 1);
  // Handed out no earlier than sentAt + DELAY (the broker's clock is this machine's), so it
  // has been unacked at most describedAt - (sentAt + DELAY). Before, the age counted from
  // when the group first read it (about sentAt): DELAY more.
  assert.ok(d.oldestUnackedMs <= describedAt - (sentAt + DELAY), `oldest unacked ${d.oldestUnackedMs} ms, but it was handed out at most ${describedAt - sentAt - DELAY} ms ago`);
  finish();
});
