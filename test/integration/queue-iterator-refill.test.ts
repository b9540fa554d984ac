// A for-await worker that holds the jobs it took while it waits for more (a batch of
// `concurrency` jobs, settled together) gets the next job once it is produced: its free
// slots are asked for once the buffer it took from is down to half, not only when a job is
// settled (none is, until the batch is full).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueConsumer, type Job } from '../../src/client/index.js';

let broker: BrokerHandle | undefined;
after(async () => { await broker?.stop(); });

test('a for-await worker holding the jobs it took gets a job produced later, long before their locks run out', { timeout: 60_000 }, async () => {
  broker = await startBroker();
  const topic = 'q-refill';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  // One acquire takes these five: more than half of the 6 slots, so the worker holds off
  // its next acquire until the application has taken most of them.
  await p.send(topic, ['1', '2', '3', '4', '5'].map((value) => ({ value })));
  // A lock far longer than the wait below: only a freed slot (a lock running out) would
  // otherwise let the worker ask again.
  const settings = { visibilityTimeoutMs: 120_000 };
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-refill', topics: topic, concurrency: 6, maxWaitMs: 200, settings });
  const held: Job[] = [];
  try {
    for await (const job of q) {
      held.push(job);
      // The application's own work between jobs (I/O: a turn of the event loop), during
      // which the worker's acquire loop looks at its buffer.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      if (held.length === 5) await p.send(topic, [{ value: '6' }]);
      if (held.length === 6) break;
    }
    assert.deepEqual(held.map((j) => j.value?.toString()), ['1', '2', '3', '4', '5', '6']);
    assert.ok(held.every((j) => j.deliveryCount === 1));
  } finally {
    await p.close();
    await q.close();
  }
});
