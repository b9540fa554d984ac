// Leaving `for await` over a QueueConsumer ends the worker, as it ends a Consumer: it stops
// acquiring and gives its prefetched jobs back unstarted, so another worker gets them at
// once on the same delivery count. (It used to keep them locked, and keep acquiring, until
// close() or the lock expired.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { waitFor } from './group-helpers.js';

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

test('break after one job: the other prefetched jobs go at once to another worker, delivery count unchanged', async (t) => {
  await admin.createTopic('qb', 1);
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('qb', Array.from({ length: 5 }, (_, i) => ({ value: `job-${i}` })));
  // A lock far longer than the test: nothing may come back by expiry.
  const settings = { visibilityTimeoutMs: 600_000 };
  const a = new QueueConsumer({ url: broker.url, groupId: 'g-qb', topics: 'qb', concurrency: 5, maxWaitMs: 200, settings });
  t.after(() => a.close());
  for await (const job of a) {
    // All five prefetched (one acquire may bring fewer; the next brings the rest).
    await waitFor('five jobs held', () => a.inFlight === 5, 20_000);
    await job.ack();
    break;
  }
  const d = await qadmin.describeGroup('g-qb');
  assert.deepEqual([d.acked, d.inFlight, d.available, d.redeliveries, d.workers.length], [1, 0, 4, 0, 0], 'given back, and the worker left');

  // Appended after the break: the worker that broke out must not take it.
  await p.send('qb', { value: 'job-5' });
  await p.close();
  const b = new QueueConsumer({ url: broker.url, groupId: 'g-qb', topics: 'qb', concurrency: 10, maxWaitMs: 200, settings });
  t.after(() => b.close());
  const got: Job[] = [];
  const timer = setTimeout(() => void b.close(), 20_000); // jobs that never come fail the test, not hang it
  for await (const job of b) {
    got.push(job);
    await job.ack();
    if (got.length === 5) break;
  }
  clearTimeout(timer);
  assert.deepEqual(got.map((j) => [j.offset, j.deliveryCount]), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
});
