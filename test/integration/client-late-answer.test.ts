// A client process that stalls past a request's timeout while the broker's answer is
// already on its socket: when it resumes, Node runs the expired timer before it reads the
// socket. The answer must still count, or what the broker did for the request is lost
// (records locked to a queue worker that never sees them, a delivery attempt spent).
// The mechanism itself is tested deterministically in test/client/connection.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { waitForParked } from './broker-helpers.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

/** Blocks this process's event loop for `ms`, as a GC pause or a paused VM would. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* stalled */ }
}

test('a queue worker that stalls past its acquire timeout still gets the job, on its first delivery', async (t) => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('late', 1);
  await admin.close();
  const q = new QueueConsumer({
    url: broker.url, groupId: 'g-late', topics: 'late', concurrency: 1, maxWaitMs: 200, requestTimeoutMs: 3000,
    settings: { visibilityTimeoutMs: 30_000, maxDeliveries: 1 },
  });
  t.after(() => q.close());
  const it = q[Symbol.asyncIterator]();
  const next = it.next();
  await waitForParked(broker.httpUrl, 'share_acquire'); // the worker's acquire is parked at the broker
  const p = new Producer({ url: broker.url, acks: 1 });
  await p.send('late', [{ value: 'job' }]);
  // The broker answers the parked acquire right after the append; stall before reading it,
  // past the acquire's timeout (maxWaitMs + requestTimeoutMs = 3.2 s: long enough that a
  // broker stall of a few seconds during the produce does not time the acquire out first).
  stall(5000);
  await p.close();
  let guard: NodeJS.Timeout | undefined;
  const job = await Promise.race([next.then((r) => r.value as Job), new Promise<null>((r) => { guard = setTimeout(() => r(null), 10_000); })]);
  clearTimeout(guard);
  const qa = new QueueAdmin({ url: broker.url });
  t.after(() => qa.close());
  assert.ok(job, `no job within 10 s; group: ${JSON.stringify(await qa.describeGroup('g-late'))}`);
  assert.equal(job.deliveryCount, 1);
  await job.ack();
});
