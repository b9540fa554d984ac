// A broker that stalls (here: SIGSTOP for 1.5 s) while a worker's acquire is parked: when it
// resumes, the wake-up and the end of the wait fire together. The records the wake-up
// acquires must reach the worker; answering the wait empty left them locked to a worker
// that never saw them until the lock expired (the next delivery came with count 3, not 2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueConsumer, type Job } from '../../src/client/index.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const VISIBILITY = 20_000;

test('records acquired for a parked worker while its wait runs out reach it (broker stalled, then resumed)', async (t) => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('q-stall', 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('q-stall', [{ value: 'only' }]);
  await p.close();

  const q = new QueueConsumer({
    url: broker.url, groupId: 'g-stall', topics: 'q-stall', concurrency: 1, maxWaitMs: 300,
    settings: { visibilityTimeoutMs: VISIBILITY, retryBackoffMs: 50, retryBackoffMaxMs: 50, maxDeliveries: 10 },
  });
  t.after(() => q.close());
  const it = q[Symbol.asyncIterator]();
  let job = (await it.next()).value as Job;
  for (let round = 0; round < 3; round++) {
    await job.release(); // back in 50 ms, while the worker's next acquire is parked
    broker.proc.kill('SIGSTOP');
    await sleep(1500);
    broker.proc.kill('SIGCONT');
    let guard: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      it.next().then((r) => r.value as Job),
      new Promise<null>((r) => { guard = setTimeout(() => r(null), VISIBILITY / 2); }),
    ]);
    clearTimeout(guard);
    assert.ok(next, `round ${round}: nothing delivered within ${VISIBILITY / 2} ms of the resume: the acquisition was lost`);
    assert.equal(next.offset, job.offset);
    assert.equal(next.deliveryCount, job.deliveryCount + 1, `round ${round}: one delivery was spent on nobody`);
    job = next;
  }
  await job.ack();
});
