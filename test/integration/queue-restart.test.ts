// Share state across a broker crash (SIGKILL) and restart: every acknowledged job stays
// acknowledged, every unacknowledged one (held or never delivered) is delivered again,
// held ones with their delivery count carried over.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';

let broker: BrokerHandle;
after(async () => { await broker?.stop(); });

const N = 100;
const SETTINGS = { visibilityTimeoutMs: 30_000, retryBackoffMs: 100 };

test('a broker crash loses no acknowledgement and drops no unacknowledged job', async () => {
  broker = await startBroker();
  const topic = 'q-restart';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 2);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, Array.from({ length: N }, (_, i) => ({ value: `job-${i}`, partition: i % 2 })));
  await p.close();

  const key = (j: Job) => `${j.partition}:${j.offset}`;
  const acked = new Set<string>();
  const held = new Set<string>();
  const w1 = new QueueConsumer({ url: broker.url, groupId: 'g-restart', topics: topic, concurrency: 10, maxWaitMs: 300, settings: SETTINGS });
  const it = w1[Symbol.asyncIterator]();
  for (let i = 0; i < 40; i++) {
    const job = (await it.next()).value as Job;
    await job.ack(); // resolved = durable at the broker
    acked.add(key(job));
  }
  for (let i = 0; i < 10; i++) held.add(key((await it.next()).value as Job));

  await broker.kill();
  await w1.close();
  await broker.restart();

  const w2 = new QueueConsumer({ url: broker.url, groupId: 'g-restart', topics: topic, concurrency: 10, maxWaitMs: 300 });
  const seen = new Map<string, number>();
  // Checked after the run: an assertion thrown inside the handler would only release the
  // job (run() turns a throw into a release), and the test would never see it.
  const twice: string[] = [];
  const run = w2.run(async (job) => {
    if (seen.has(key(job))) twice.push(key(job));
    seen.set(key(job), job.deliveryCount);
  });
  const qa = new QueueAdmin({ url: broker.url });
  let d: Awaited<ReturnType<QueueAdmin['describeGroup']>>;
  try {
    // Until the group itself counts every job acked, nothing available or in flight: then
    // nothing can be delivered again, so `twice` is complete. Not "the handler saw the last
    // job, then a pause": its ack is written after that, and a broker stalled across the
    // pause answered the describe first (acked N - 1).
    for (const end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 50))) {
      d = await qa.describeGroup('g-restart');
      if (d.acked === N && d.available + d.inFlight === 0) break;
      if (Date.now() > end) assert.fail(`after the restart the group has ${d.acked} of ${N} acked, ${d.available} available, ${d.inFlight} in flight; seen ${seen.size} of ${N - acked.size}`);
    }
  } finally {
    await qa.close();
    await w2.close();
    await run;
  }

  assert.deepEqual(twice, [], 'delivered twice after the restart');
  for (const k of acked) assert.equal(seen.has(k), false, `acked ${k} was delivered again`);
  assert.equal(seen.size, N - acked.size, `got ${seen.size} of the ${N - acked.size} unacknowledged jobs`);
  for (const k of held) assert.equal(seen.get(k), 2, `held ${k} came back with delivery count ${seen.get(k)}`);
  for (const [k, c] of seen) if (!held.has(k)) assert.equal(c, 1, `${k}: count ${c}`);
  assert.equal(d.settings.retryBackoffMs, 100, 'group settings survive the restart');
});
