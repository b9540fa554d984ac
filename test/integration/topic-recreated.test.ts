// A topic deleted and re-created under a group that had read it, against the real broker
// process. A share group starts over at the new log's start (it used to wait, delivering
// nothing, until the new log passed the old position); a consumer group's committed offset
// is out of range on the new log and the consumer resets, as it always did. Partitions
// added to a topic a share group reads are read from their start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, QueueAdmin, QueueConsumer, type Job, type Message } from '../../src/client/index.js';
import { brokerForFile, groupConsumer, waitFor } from './group-helpers.js';

const env = brokerForFile();

async function produce(topic: string, values: string[], partition = 0): Promise<void> {
  const p = new Producer({ url: env.broker.url, acks: 'all', lingerMs: 0 });
  await p.send(topic, values.map((value) => ({ value, partition })));
  await p.close();
}

const jobs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** The next `n` jobs of the iterator, acked (unless `ack` is false); fails (does not hang) when they do not come within `ms`. */
async function take(it: AsyncIterator<Job>, n: number, ms: number, ack = true): Promise<Job[]> {
  const out: Job[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const left = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([it.next(), new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), Math.max(0, left)); })]);
    clearTimeout(timer);
    if (next === 'timeout') throw new Error(`got ${out.length} of ${n} jobs within ${ms} ms: ${out.map((j) => j.value?.toString()).join(', ')}`);
    if (next.done) throw new Error(`the worker stopped after ${out.length} of ${n} jobs`);
    if (ack) await next.value.ack();
    out.push(next.value);
  }
  return out;
}

test('a share group whose topic was deleted and re-created gets the new jobs at once, from the new log start', async (t) => {
  await env.admin.createTopic('rq', 1);
  await produce('rq', jobs('old', 20));
  const w = new QueueConsumer({ url: env.broker.url, groupId: 'g-rq', topics: 'rq', concurrency: 5, maxWaitMs: 500, retryBackoffMs: 100 });
  t.after(() => w.close());
  const it = w[Symbol.asyncIterator]();
  const old = await take(it, 20, 20_000);
  assert.deepEqual(old.map((j) => j.offset).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));

  await env.admin.deleteTopic('rq');
  await env.admin.createTopic('rq', 1);
  await produce('rq', jobs('new', 3));
  // Before the fix the group still read from offset 20 and nothing came, however long one
  // waited (the new log holds 3 records); the bound only has to leave room for stalls.
  const fresh = await take(it, 3, 20_000);
  assert.deepEqual(fresh.map((j) => [j.offset, j.value?.toString(), j.deliveryCount]).sort(), [[0, 'new-0', 1], [1, 'new-1', 1], [2, 'new-2', 1]]);
  await waitFor('the start-over log line', () => /share group starts over on a re-created topic/.test(env.broker.logs()), 10_000, 20);
  const line = env.broker.logs().split('\n').find((l) => l.includes('share group starts over on a re-created topic'))!;
  const ev = JSON.parse(line) as Record<string, unknown>;
  assert.equal(ev.level, 'warn');
  assert.equal(ev.group, 'g-rq');
  assert.equal(ev.topic, 'rq');
  assert.deepEqual(ev.partitions, [{ partition: 0, from: 20, to: 0 }]);
});

test('a share group whose topic was deleted holds no state for it and dead-letters nothing; partitions added later are read from their start', async (t) => {
  await env.admin.createTopic('dq', 1);
  const qa = new QueueAdmin({ url: env.broker.url });
  t.after(() => qa.close());
  // One job held (not acked) with one attempt: had its lock run out on the old state, it
  // would be dead-lettered. startFrom latest: a partition the group meets on its own starts
  // at the log end, so only the broker placing it at the start delivers the job below.
  const settings = { maxDeliveries: 1, visibilityTimeoutMs: 1000, startFrom: 'latest' as const };
  const w = new QueueConsumer({ url: env.broker.url, groupId: 'g-dq', topics: 'dq', concurrency: 1, maxWaitMs: 500, retryBackoffMs: 100, settings, extendLocks: false });
  t.after(() => w.close());
  const first = take(w[Symbol.asyncIterator](), 1, 30_000, false); // starts the worker
  await waitFor('the group placed on dq/0', async () => (await qa.describeGroup('g-dq').catch(() => undefined))?.partitions.some((p) => p.topic === 'dq') ?? false, 20_000, 20);
  await produce('dq', jobs('a', 2));
  const [held] = await first;
  await env.admin.deleteTopic('dq');
  const d = await qa.describeGroup('g-dq');
  assert.deepEqual(d.partitions.filter((p) => p.topic === 'dq'), [], 'the deleted topic\'s state is dropped');
  assert.equal(d.inFlight, 0);
  assert.equal(d.deadLettered, 0);
  await assert.rejects(held.ack(), (e: Error & { code?: string }) => e.code === 'INVALID_RECORD_STATE');
  await w.close();

  // Re-created with 1 partition, then grown while no worker is in the group: a job on a new
  // partition, produced before any worker asks, is delivered (not skipped as "before latest").
  await env.admin.createTopic('dq', 1);
  await env.admin.createPartitions('dq', 3);
  await produce('dq', ['p2-job'], 2);
  const w2 = new QueueConsumer({ url: env.broker.url, groupId: 'g-dq', topics: 'dq', concurrency: 1, maxWaitMs: 500, retryBackoffMs: 100 });
  t.after(() => w2.close());
  const got = await take(w2[Symbol.asyncIterator](), 1, 20_000);
  assert.deepEqual([got[0].partition, got[0].offset, got[0].value?.toString()], [2, 0, 'p2-job']);
  assert.equal((await env.admin.listTopics()).some((x) => x.name === 'dq.dlq'), false, 'nothing was dead-lettered');
});

test('a consumer group whose topic was deleted and re-created resets from its out-of-range offset, as before', async (t) => {
  await env.admin.createTopic('cq', 1);
  await produce('cq', jobs('old', 20));
  const c = groupConsumer(env.broker.url, 'g-cq', ['cq']);
  t.after(() => c.close());
  await c.connect();
  const it = c[Symbol.asyncIterator]();
  const got: Message[] = [];
  while (got.length < 20) got.push((await it.next()).value as Message);
  await c.commit();

  await env.admin.deleteTopic('cq');
  await env.admin.createTopic('cq', 1);
  await produce('cq', jobs('new', 3));
  const fresh: Message[] = [];
  const timer = setTimeout(() => void c.close(), 20_000);
  while (fresh.length < 3) {
    const n = await it.next();
    if (n.done) break;
    fresh.push(n.value);
  }
  clearTimeout(timer);
  assert.deepEqual(fresh.map((m) => [m.offset, m.value?.toString()]), [[0, 'new-0'], [1, 'new-1'], [2, 'new-2']]);
});
