// Group-wide limits against the real broker: a rate limit holds four workers together to
// about N jobs a second (the burst of one second aside), a concurrency limit of K never lets
// the workers hold more than K jobs at once, and `sluice queue alter` changes a running group
// (durably: the new limits survive a restart). sluice_share_limited_total shows the holding back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { metricValue } from './broker-helpers.js';
import { runCli } from './cli-process.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import type { ShareGroupSettings } from '../../src/protocol/api.js';

let broker: BrokerHandle;
const closers: (() => Promise<unknown>)[] = [];
before(async () => { broker = await startBroker(); });
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await broker?.stop();
});

/** Waits until sluice_share_limited_total shows `limit` holding back work of `group` (the series appears with the first cut). */
async function limitedOnce(group: string, limit: 'rate' | 'concurrency'): Promise<void> {
  const end = Date.now() + 30_000;
  while ((await metricValue(broker.httpUrl, 'sluice_share_limited_total', { group, limit }).catch(() => 0)) === 0) {
    if (Date.now() > end) throw new Error(`sluice_share_limited_total{group=${group},limit=${limit}} stayed 0`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function fillJobs(topic: string, n: number, partitions = 2): Promise<void> {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, partitions);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, Array.from({ length: n }, (_, i) => ({ value: `job ${i}`, partition: i % partitions })));
  await p.close();
}

/** Four workers of one group (concurrency 8 each) running `handler`; returns a stop function. */
function fourWorkers(group: string, topic: string, settings: ShareGroupSettings, handler: (job: Job) => Promise<void>) {
  const workers = Array.from({ length: 4 }, () => new QueueConsumer({ url: broker.url, groupId: group, topics: topic, concurrency: 8, maxWaitMs: 1000, settings }));
  const runs = workers.map((w) => w.run(handler));
  const stop = async () => { await Promise.all(workers.map((w) => w.close())); await Promise.all(runs); };
  closers.push(stop);
  return stop;
}

test('a rate limit of 20/s holds four workers together to 20 jobs a second', async () => {
  const RATE = 20;
  await fillJobs('lim-rate', 2000);
  const starts: number[] = [];
  const stop = fourWorkers('g-rate', 'lim-rate', { rateLimit: RATE }, async () => { starts.push(Date.now()); });
  const t0 = await new Promise<number>((resolve) => { const i = setInterval(() => { if (starts.length) { clearInterval(i); resolve(starts[0]); } }, 10); });
  await new Promise((r) => setTimeout(r, 3000)); // the measured span: not a wait for an event
  const span = Date.now() - t0;
  const n = starts.filter((t) => t >= t0).length;
  await stop();
  // At most a bucket of one second plus RATE per second of the span; without the limit four
  // workers take hundreds a second here. Slack of 10 for the tick that lands at the edge.
  const most = RATE + (RATE * span) / 1000 + 10;
  assert.ok(n <= most, `${n} jobs in ${span} ms: more than ${most}`);
  assert.ok(n >= RATE, `${n} jobs in ${span} ms: the group is not working`);
  await limitedOnce('g-rate', 'rate');
});

test('a concurrency limit of 3 never lets four workers hold more than 3 jobs at once', async () => {
  const K = 3;
  const N = 40;
  await fillJobs('lim-conc', N);
  let running = 0;
  let most = 0;
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => { finish = r; });
  const stop = fourWorkers('g-conc', 'lim-conc', { maxInFlight: K }, async () => {
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 20));
    running--;
    if (++done === N) finish();
  });
  // The broker's view too: what the group holds (describe), sampled while the jobs run.
  const qa = new QueueAdmin({ url: broker.url });
  closers.push(() => qa.close());
  let brokerMost = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const d = await qa.describeGroup('g-conc').catch(() => undefined);
      if (d) brokerMost = Math.max(brokerMost, d.inFlight);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((_, rej) => { guard = setTimeout(() => rej(new Error(`only ${done} of ${N} jobs done`)), 60_000); })]);
  clearTimeout(guard);
  sampling = false;
  await sampler;
  await stop();
  assert.ok(most <= K, `${most} handlers ran at once across the workers`);
  assert.ok(brokerMost <= K, `the group held ${brokerMost} jobs at once`);
  assert.equal(most, K, 'the limit is used, not undershot');
  await limitedOnce('g-conc', 'concurrency');
});

test('sluice queue alter changes the limits of a running group, durably', async () => {
  await fillJobs('lim-alter', 200);
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => { finish = r; });
  const stop = fourWorkers('g-alter', 'lim-alter', { rateLimit: 2 }, async () => { if (++done === 200) finish(); });
  await limitedOnce('g-alter', 'rate');
  const before = done;
  assert.ok(before < 100, `${before} jobs done at 2/s`);
  const r = await runCli(broker.url, ['queue', 'alter', 'g-alter', '--rate', '0', '--max-in-flight', '50']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /rate none, max in flight 50/);
  // At 2/s the rest would take over a minute; lifted, it is done in a few seconds.
  const t = Date.now();
  await all;
  assert.ok(Date.now() - t < 30_000, `the rest took ${Date.now() - t} ms after the limit was lifted`);
  await stop();

  await broker.restart();
  const d = await runCli(broker.url, ['queue', 'describe', 'g-alter']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /LIMITS\s+rate none, max in flight 50/, 'the altered limits survive the restart');
  const bad = await runCli(broker.url, ['queue', 'alter', 'g-alter', '--rate', '5000000']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /rateLimit/);
  const unknown = await runCli(broker.url, ['queue', 'alter', 'no-such-group', '--rate', '5']);
  assert.notEqual(unknown.code, 0);
});
