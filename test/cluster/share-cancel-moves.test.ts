// Cancel (issue 15; docs/queue.md, "Cancel, progress and drain") across the SIGKILL of the
// broker coordinating the share group: etcd + three broker processes. A cancelled job stays
// cancelled (never delivered, before or after the move), and a worker holding a job when the
// next coordinator cancels it sees the job's signal abort (the push comes on its connection to
// the new coordinator).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import type { Job } from '../../src/client/queue-job.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { coordinatorFirst, killCoordinator, queueAcrossMoves } from './share-helpers.js';

const env = brokerClusterForFile({ brokers: 3 });

test('a cancelled job stays cancelled across the SIGKILL of its share coordinator, and a job held when the next coordinator cancels it aborts its signal', { skip: etcdTool.skip, timeout: 300_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'q-cancel-move';
  const topic = 'cancel-move-jobs';
  const { bootstrap, first, admin, producer } = await queueAcrossMoves(t, cluster, group, topic, 1);
  // Offsets 0..2 cancelled before any worker takes them; 3 held by a worker and cancelled at
  // the first coordinator; 4 held across the kill and cancelled at the next one; 5.. work.
  const values = ['c-0', 'c-1', 'c-2', 'h-pre', 'h-post', 'n-0', 'n-1', 'n-2'];
  for (const value of values) await producer.send(topic, { value, partition: 0 });
  await admin.resetOffsets(group, topic, 'earliest');
  // reset-offsets made the group with the broker's settings: the worker's differ (no backoff, so
  // h-post comes back at once after the move), and a worker joining with other settings than
  // its group's is refused (docs/queue.md, "Settings a worker gives"), so the group gets them first.
  await admin.alterGroup(group, { retryBackoffMs: 0, retryBackoffMaxMs: 0 });
  const early = await admin.cancel(group, topic, { partition: 0, offsets: [0, 1, 2] });
  assert.deepEqual(early[0]!.cancelled.map((c) => c.offset), [0, 1, 2]);

  const deliveries: { value: string; count: number }[] = [];
  const aborted = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  let release: () => void = () => {};
  const done = new Promise<void>((r) => { release = r; });
  const handler = async (job: Job, { signal }: { signal: AbortSignal }): Promise<void> => {
    const v = job.value!.toString();
    deliveries.push({ value: v, count: job.deliveryCount });
    if (v.startsWith('h-')) {
      // Works until cancelled (the end of the test only keeps a broken build from hanging).
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => { aborted.set(v, Date.now()); resolve(); }, { once: true });
        void done.then(resolve);
      });
      return;
    }
    await job.ack();
    ackedAt.set(v, Date.now());
  };
  const worker = new QueueConsumer({
    brokers: coordinatorFirst(cluster, first), groupId: group, topics: topic, workerId: 'w', concurrency: 4, maxWaitMs: 500, retryBackoffMs: 100,
    settings: { retryBackoffMs: 0, retryBackoffMaxMs: 0 },
  });
  const run = worker.run(handler).catch(() => undefined);
  t.after(async () => { release(); await worker.close().catch(() => {}); await run; });

  const held = (v: string) => deliveries.filter((x) => x.value === v).length;
  await until(async () => (held('h-pre') === 1 && held('h-post') === 1 && ackedAt.size === 3 ? true : undefined), 60_000, 'both held jobs running and the others acked');
  const pre = await admin.cancel(group, topic, { partition: 0, offsets: [3] });
  assert.deepEqual(pre[0]!.cancelled, [{ offset: 3, workerId: 'w' }]);
  await until(async () => (aborted.has('h-pre') ? true : undefined), 30_000, 'h-pre\'s signal aborted by the first coordinator');

  const { old } = await killCoordinator(cluster, admin, group);
  // h-post's lock died with the first coordinator: the next one hands it out again (count 2)
  // to the same worker, whose first run of it is still going.
  await until(async () => (held('h-post') === 2 ? true : undefined), 60_000, 'h-post handed out again by the new coordinator');
  const post = await admin.cancel(group, topic, { partition: 0, offsets: [4] });
  assert.deepEqual(post[0]!.cancelled, [{ offset: 4, workerId: 'w' }], 'the new coordinator knows who holds h-post');
  await until(async () => (aborted.has('h-post') ? true : undefined), 30_000, 'h-post\'s signal aborted by the new coordinator\'s cancel');

  await producer.send(topic, { value: 'n-after', partition: 0 });
  await until(async () => (ackedAt.has('n-after') ? true : undefined), 60_000, 'a job produced after the move acked');
  const d = await admin.describeGroup(group);
  assert.deepEqual({ cancelled: d.cancelled, inFlight: d.inFlight, available: d.available, start: d.partitions[0]!.startOffset },
    { cancelled: 5, inFlight: 0, available: 0, start: values.length + 1 }, 'every job settled: the cancelled ones count as cancelled');
  const cancelled = ['c-0', 'c-1', 'c-2', 'h-pre'];
  assert.deepEqual(deliveries.filter((x) => cancelled.includes(x.value)).map((x) => `${x.value}@${x.count}`), ['h-pre@1'], 'a job cancelled before the move is not delivered after it');
  assert.deepEqual(deliveries.filter((x) => x.value === 'h-post').map((x) => x.count), [1, 2]);
});
