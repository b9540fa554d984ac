// Pull-based spreading against the real broker: workers of different speeds on the same
// 1-partition queue; the faster a worker settles, the more it gets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueConsumer } from '../../src/client/index.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

test('faster workers get more jobs than slower ones', async (t) => {
  const topic = 'q-speed';
  const N = 240;
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 1 });
  await p.send(topic, Array.from({ length: N }, (_, i) => ({ value: `job-${i}` })));
  await p.close();

  // Far apart, so that the order holds even when each job's round trips take tens of ms
  // on a slow machine: share ∝ 1 / (delay + overhead).
  const delays = { fast: 1, medium: 30, slow: 120 };
  const counts: Record<string, number> = { fast: 0, medium: 0, slow: 0 };
  let total = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => { finish = r; });
  const workers = Object.entries(delays).map(([name, ms]) => {
    const q = new QueueConsumer({ url: broker.url, groupId: 'g-speed', topics: topic, workerId: name, concurrency: 1, maxWaitMs: 300 });
    t.after(() => q.close());
    return { q, run: q.run(async () => {
      await new Promise((r) => setTimeout(r, ms));
      counts[name]++;
      if (++total === N) finish();
    }) };
  });
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((r) => { guard = setTimeout(r, 15_000); })]);
  clearTimeout(guard);
  for (const w of workers) await w.q.close();
  await Promise.all(workers.map((w) => w.run));
  assert.equal(total, N);
  assert.ok(counts.fast > counts.medium && counts.medium > counts.slow, JSON.stringify(counts));
  assert.ok(counts.fast >= 3 * counts.slow, JSON.stringify(counts));
  assert.ok(counts.slow > 0, JSON.stringify(counts));
});
