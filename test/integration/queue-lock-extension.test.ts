// run() keeps the locks of handlers that are still working: a job longer than the
// visibility timeout is processed once, not handed to a second worker meanwhile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer } from '../../src/client/index.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const VISIBILITY = 500;
const JOB_MS = 2000;

/** Two workers on one job that takes JOB_MS; returns each delivery's worker and count. */
async function longJob(topic: string, extendLocks: boolean): Promise<{ deliveries: { worker: string; count: number }[]; acked: number }> {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, [{ value: 'long job' }]);
  await p.close();
  const settings = { visibilityTimeoutMs: VISIBILITY, retryBackoffMs: 0, retryBackoffMaxMs: 0 };
  const deliveries: { worker: string; count: number }[] = [];
  const workers = ['a', 'b'].map((w) => new QueueConsumer({
    url: broker.url, groupId: `g-${topic}`, topics: topic, workerId: w, concurrency: 1, maxWaitMs: 200, settings, extendLocks, log: () => {},
  }));
  try {
    const runs = workers.map((q) => q.run(async (job) => {
      deliveries.push({ worker: q.workerId, count: job.deliveryCount });
      await sleep(JOB_MS);
    }));
    await sleep(JOB_MS + 1000);
    const qa = new QueueAdmin({ url: broker.url });
    const d = await qa.describeGroup(`g-${topic}`);
    await qa.close();
    await Promise.all(workers.map((q) => q.close()));
    await Promise.all(runs);
    return { deliveries, acked: d.acked };
  } finally {
    await Promise.all(workers.map((q) => q.close()));
  }
}

test('a run() handler working past the visibility timeout keeps its job: processed once, acked', async () => {
  const { deliveries, acked } = await longJob('q-long', true);
  assert.equal(deliveries.length, 1, JSON.stringify(deliveries));
  assert.equal(deliveries[0].count, 1);
  assert.equal(acked, 1);
});

test('with extendLocks: false the same job is handed out again once its lock expires', async () => {
  const { deliveries } = await longJob('q-long-noext', false);
  assert.ok(deliveries.length >= 2, JSON.stringify(deliveries));
  assert.equal(deliveries[1].count, 2);
});
