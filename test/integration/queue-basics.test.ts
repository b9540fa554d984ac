// Queue mode against the real broker process: many workers on one partition, reject and
// maxDeliveries to the DLQ with their headers, describe counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Consumer, Producer, QueueAdmin, QueueConsumer, type Job, type Message } from '../../src/client/index.js';
import { readDeadLetterHeaders } from '../../src/queue/dead-letter.js';
import { waitFor } from './group-helpers.js';
import { lineLogger } from './line-logger.js';

let broker: BrokerHandle;
let admin: Admin;
let qadmin: QueueAdmin;
before(async () => {
  broker = await startBroker();
  admin = new Admin({ url: broker.url });
  qadmin = new QueueAdmin({ url: broker.url });
});
after(async () => {
  await qadmin.close();
  await admin.close();
  await broker.stop();
});

async function produce(topic: string, n: number, partitions = 1): Promise<void> {
  await admin.createTopic(topic, partitions);
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, Array.from({ length: n }, (_, i) => ({ value: `job-${i}`, partition: i % partitions, headers: [{ key: 'h', value: 'x' }] })));
  await p.close();
}

async function readTopic(topic: string, n: number, timeoutMs = 10_000): Promise<Message[]> {
  const c = new Consumer({ url: broker.url, autoOffsetReset: 'earliest' });
  await c.assign(topic);
  const out: Message[] = [];
  const timer = setTimeout(() => void c.close(), timeoutMs);
  for await (const m of c) {
    out.push(m);
    if (out.length >= n) break;
  }
  clearTimeout(timer);
  await c.close();
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('10 workers on a 1-partition topic all get work; every job is processed exactly once', async (t) => {
  const topic = 'q-ten';
  await produce(topic, 300);
  const seen = new Map<number, string>();
  const perWorker = new Map<string, number>();
  const workers = Array.from({ length: 10 }, (_, i) => new QueueConsumer({ url: broker.url, groupId: 'g-ten', topics: topic, workerId: `w${i}`, concurrency: 2, maxWaitMs: 500 }));
  t.after(() => Promise.all(workers.map((w) => w.close())));
  let total = 0;
  let finish!: () => void;
  const allDone = new Promise<void>((r) => { finish = r; });
  // Checked after the run: an assertion thrown inside the handler would only release the
  // job (run() turns a throw into a release), and the test would never see it.
  const twice: number[] = [];
  const runs = workers.map((w) => w.run(async (job) => {
    if (seen.has(job.offset)) twice.push(job.offset);
    seen.set(job.offset, w.workerId);
    perWorker.set(w.workerId, (perWorker.get(w.workerId) ?? 0) + 1);
    await sleep(5);
    if (++total === 300) finish();
  }));
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([allDone, new Promise((r) => { guard = setTimeout(r, 20_000); })]);
  clearTimeout(guard);
  let d = await qadmin.describeGroup('g-ten');
  await waitFor('the last acks landed', async () => (d = await qadmin.describeGroup('g-ten')).acked === 300, 15_000, 50).catch(() => {});
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(runs);
  assert.deepEqual(twice, [], 'offsets delivered twice');
  assert.equal(seen.size, 300);
  assert.equal(perWorker.size, 10, `workers with work: ${[...perWorker.keys()].join(',')}`);
  for (const [w, n] of perWorker) assert.ok(n > 0, `${w} got nothing`);
  assert.equal(d.acked, 300);
  assert.equal(d.available, 0);
  assert.equal(d.inFlight, 0);
});

test('reject sends the record to <topic>.dlq with headers; it is never delivered again', async (t) => {
  const topic = 'q-reject';
  await produce(topic, 5);
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-reject', topics: topic, concurrency: 5, maxWaitMs: 300 });
  t.after(() => q.close());
  const got: number[] = [];
  const it = q[Symbol.asyncIterator]();
  for (let i = 0; i < 5; i++) {
    const { value: job } = await it.next() as { value: Job };
    got.push(job.offset);
    if (job.offset === 2) await job.reject('cannot parse');
    else await job.ack();
  }
  const [dl] = await readTopic(`${topic}.dlq`, 1);
  assert.equal(dl.value!.toString(), 'job-2');
  const h = readDeadLetterHeaders(dl.headers)!;
  assert.deepEqual(h, { group: 'g-reject', topic, partition: '0', offset: '2', deliveryCount: '1', cause: 'rejected', reason: 'cannot parse' });
  assert.equal(dl.headers.find((x) => x.key === 'h')?.value?.toString(), 'x', 'original headers kept');
  const d = await qadmin.describeGroup('g-reject');
  assert.equal(d.acked, 4);
  assert.equal(d.deadLettered, 1);
  await q.close();
  assert.deepEqual(got.sort(), [0, 1, 2, 3, 4]);
});

test('after maxDeliveries failed attempts the record goes to the configured DLQ with its count and last reason', async (t) => {
  const topic = 'q-maxdel';
  await produce(topic, 1);
  // The lock must outlast a stall (CI has seen seconds) between taking a job and releasing
  // it: with 400 ms, a late release found the lock expired and the counts came out wrong.
  const settings = { maxDeliveries: 3, retryBackoffMs: 50, retryBackoffMaxMs: 200, visibilityTimeoutMs: 3000, deadLetterTopic: 'q-maxdel-dead' };
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-maxdel', topics: topic, concurrency: 1, maxWaitMs: 300, settings });
  t.after(() => q.close());
  const counts: number[] = [];
  const it = q[Symbol.asyncIterator]();
  // Attempt 1: released with a reason; attempt 2: lock left to expire; attempt 3: released again.
  let job = (await it.next()).value as Job;
  counts.push(job.deliveryCount);
  await job.release({ reason: 'smtp down' });
  job = (await it.next()).value as Job;
  counts.push(job.deliveryCount);
  // Only after the lock of attempt 2 expired; its deadline is broker time (same machine),
  // so a stall anywhere cannot make this pass or fail wrongly.
  const expiresAt = job.lockDeadline;
  job = (await it.next()).value as Job;
  counts.push(job.deliveryCount);
  assert.ok(Date.now() >= expiresAt, `redelivered ${expiresAt - Date.now()} ms before the lock of attempt 2 expired`);
  await job.release({ reason: 'still down' });
  assert.deepEqual(counts, [1, 2, 3]);
  const [dl] = await readTopic('q-maxdel-dead', 1);
  const h = readDeadLetterHeaders(dl.headers)!;
  assert.equal(h.cause, 'max-deliveries');
  assert.equal(h.deliveryCount, '3');
  assert.equal(h.reason, 'still down');
  assert.equal(h.offset, '0');
  // Not delivered a fourth time.
  const next = await Promise.race([it.next().then(() => 'delivered'), sleep(800).then(() => 'nothing')]);
  assert.equal(next, 'nothing');
  const d = await qadmin.describeGroup('g-maxdel');
  assert.equal(d.deadLettered, 1);
  assert.equal(d.redeliveries, 2);
  assert.equal(d.settings.maxDeliveries, 3);
  await q.close();
});

test('settling a record the worker does not hold is INVALID_RECORD_STATE; describe of an unknown group is GROUP_ID_NOT_FOUND', async (t) => {
  const topic = 'q-errors';
  await produce(topic, 1);
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-errors', topics: topic, concurrency: 1, maxWaitMs: 300 });
  t.after(() => q.close());
  const job = (await q[Symbol.asyncIterator]().next()).value as Job;
  await job.ack();
  await assert.rejects(job.ack(), { code: 'INVALID_RECORD_STATE' }); // refused locally
  await assert.rejects(job.extend(1000), { code: 'INVALID_RECORD_STATE' }); // refused by the broker
  await assert.rejects(qadmin.describeGroup('no-such-group'), { code: 'GROUP_ID_NOT_FOUND' });
  await q.close();
});

test('release with delayMs comes back after the delay; extend keeps a lock past the visibility timeout', async (t) => {
  const topic = 'q-delay';
  await produce(topic, 1);
  // Two groups on the topic, run at once: the delay part keeps the default (long) lock, the
  // extend part a 5 s lock, long enough that a stall of seconds (seen on CI) between taking
  // the job and extending it does not expire it first.
  const extendPart = (async () => {
    const settings = { visibilityTimeoutMs: 5000, retryBackoffMs: 0, retryBackoffMaxMs: 0 };
    const q = new QueueConsumer({ url: broker.url, groupId: 'g-extend', topics: topic, concurrency: 2, maxWaitMs: 300, settings });
    t.after(() => q.close());
    const it = q[Symbol.asyncIterator]();
    const a = (await it.next()).value as Job;
    const takenAt = Date.now();
    const deadline = await a.extend(20_000);
    assert.ok(deadline - Date.now() > 15_000, `extended deadline only ${deadline - Date.now()} ms away`);
    // Past the 5 s lock (taken before takenAt), inside the extension. Had the lock expired,
    // the record would have gone back and been taken again (this consumer has a free slot):
    // redeliveries would be 1. (The ack alone does not show it: the broker accepts it from
    // the worker that re-took the record; checked without the extend.)
    await sleep(Math.max(0, 6000 - (Date.now() - takenAt)));
    await a.ack();
    const d = await qadmin.describeGroup('g-extend');
    assert.equal(d.acked, 1);
    assert.equal(d.redeliveries, 0);
    await q.close();
  })();
  extendPart.catch(() => {}); // awaited below
  const settings = { retryBackoffMs: 0, retryBackoffMaxMs: 0 };
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-delay', topics: topic, concurrency: 2, maxWaitMs: 300, settings });
  t.after(() => q.close());
  const it = q[Symbol.asyncIterator]();
  const b = (await it.next()).value as Job;
  const releasedAt = Date.now();
  await b.release({ delayMs: 600 });
  const again = (await it.next()).value as Job;
  const waited = Date.now() - releasedAt;
  assert.equal(again.offset, b.offset);
  assert.equal(again.deliveryCount, 2);
  assert.ok(waited >= 550, `redelivered after ${waited} ms, before the 600 ms delay`);
  await again.ack();
  const d = await qadmin.describeGroup('g-delay');
  assert.equal(d.acked, 1);
  await q.close();
  await extendPart;
});

test('a worker with maxMessages N never holds more than N jobs, whatever its concurrency; close gives back nothing it did not take', async (t) => {
  await produce('q-cap', 10);
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-cap', topics: 'q-cap', concurrency: 10, maxMessages: 2, maxWaitMs: 200 });
  t.after(() => q.close());
  const it = q[Symbol.asyncIterator]();
  const a = (await it.next()).value as Job;
  const b = (await it.next()).value as Job;
  assert.deepEqual([a.offset, b.offset], [0, 1]);
  assert.equal((await it.next()).done, true, 'the iteration ends after maxMessages jobs');
  // Both jobs are handed out and unsettled, so the worker asks for nothing more: what the
  // broker shows now is final.
  const d = await qadmin.describeGroup('g-cap');
  assert.deepEqual([d.inFlight, d.workers.map((w) => w.inFlight)], [2, [2]]);
  assert.equal(q.inFlight, 2);
  await a.ack();
  await b.ack();
  await q.close();
  const after = await qadmin.describeGroup('g-cap');
  assert.deepEqual([after.acked, after.inFlight, after.redeliveries, after.deadLettered, after.available], [2, 0, 0, 0, 8]);
});

test('close gives prefetched jobs back unstarted: the next worker gets them on their first delivery, even past maxDeliveries closes', async (t) => {
  await produce('q-giveback', 3);
  const settings = { maxDeliveries: 1 };
  for (let i = 0; i < 3; i++) {
    // Takes one job and stops; the other two sat in its prefetch.
    const q = new QueueConsumer({ url: broker.url, groupId: 'g-giveback', topics: 'q-giveback', concurrency: 3, maxWaitMs: 200, settings });
    t.after(() => q.close());
    const it = q[Symbol.asyncIterator]();
    const job = (await it.next()).value as Job;
    assert.equal(job.deliveryCount, 1, `worker ${i}: job ${job.offset} on its first delivery`);
    await job.ack();
    await q.close();
    // Checked before the next worker waits for jobs that would otherwise be gone.
    const d = await qadmin.describeGroup('g-giveback');
    assert.deepEqual([d.acked, d.deadLettered, d.inFlight, d.available], [i + 1, 0, 0, 2 - i], `after worker ${i}`);
  }
  const d = await qadmin.describeGroup('g-giveback');
  assert.deepEqual([d.acked, d.deadLettered, d.inFlight], [3, 0, 0]);
});

test('sluice_queue_oldest_unacked_age_seconds is 0 when nothing is in flight, though jobs wait for a retry', async (t) => {
  await produce('q-age', 2);
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-age', topics: 'q-age', concurrency: 2, maxWaitMs: 200 });
  t.after(() => q.close());
  const it = q[Symbol.asyncIterator]();
  const a = (await it.next()).value as Job;
  const b = (await it.next()).value as Job;
  await a.release({ delayMs: 600_000 });
  await b.release({ delayMs: 600_000 });
  const d = await qadmin.describeGroup('g-age');
  assert.deepEqual([d.inFlight, d.delayed, d.oldestUnackedMs], [0, 2, 0]);
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text();
  assert.match(text, /sluice_queue_oldest_unacked_age_seconds\{group="g-age",topic="q-age"\} 0\n/);
});

test('the share state topics are internal: not listed, not readable as a queue', async (t) => {
  const names = (await admin.listTopics()).map((t) => t.name);
  assert.ok(!names.some((n) => n.startsWith('__share_state')), names.join(','));
  const logs: string[] = [];
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-internal', topics: '__share_state-0', maxWaitMs: 100, retryBackoffMs: 50, logger: lineLogger((m) => logs.push(m)) });
  t.after(() => q.close());
  const it = q[Symbol.asyncIterator]();
  const first = it.next().then(() => 'job');
  // Refused at least once (a stall may delay that by seconds), and still nothing after it.
  await waitFor('INVALID_TOPIC logged', () => logs.some((m) => /INVALID_TOPIC|internal topic/.test(m)), 10_000);
  const r = await Promise.race([first, sleep(500).then(() => 'none')]);
  await q.close();
  assert.equal(r, 'none');
});

test('metrics expose per-group queue gauges and dead-letter counts', async () => {
  const text = await (await fetch(`${broker.httpUrl}/metrics`)).text();
  assert.match(text, /sluice_queue_messages\{group="g-reject",topic="q-reject",state="acked"\} 4\b/);
  assert.match(text, /sluice_queue_messages\{group="g-reject",topic="q-reject",state="dead_lettered"\} 1\b/);
  assert.match(text, /sluice_queue_dead_lettered_total\{group="g-reject"\} 1\b/);
  assert.match(text, /sluice_queue_dead_lettered_total\{group="g-maxdel"\} 1\b/);
  assert.match(text, /sluice_queue_redeliveries_total\{group="g-maxdel"\} 2\b/);
  assert.match(text, /sluice_queue_oldest_unacked_age_seconds\{group="g-ten",topic="q-ten"\} 0\b/);
});
