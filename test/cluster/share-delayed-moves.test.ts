// Delayed jobs (issue 15; docs/queue.md, "Delayed and scheduled jobs") across the SIGKILL of
// the broker coordinating their share group: etcd + three broker processes. A delayed job
// keeps its time at the next coordinator (it reads the header again): handed out after it,
// not before, at delivery count 1 (waiting is not an attempt), and acked once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import type { Job } from '../../src/client/queue-job.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { brokerWarnings, coordinatorFirst, killCoordinator, queueAcrossMoves } from './share-helpers.js';

const env = brokerClusterForFile({ brokers: 3 });

test('a job delayed past the SIGKILL of its share coordinator is delivered after its time, not before, once, and acked once', { skip: etcdTool.skip, timeout: 300_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'q-delay-move';
  const topic = 'delay-move-jobs';
  const { bootstrap, first, admin, producer } = await queueAcrossMoves(t, cluster, group, topic, 2);

  const deliveries = new Map<string, { at: number; count: number }[]>();
  const ackedAt = new Map<string, number>();
  const afterAck: string[] = [];
  const ackErrors = new Map<string, string>();
  const handler = async (job: Job): Promise<void> => {
    const v = job.value!.toString();
    const seen = deliveries.get(v) ?? [];
    seen.push({ at: Date.now(), count: job.deliveryCount });
    deliveries.set(v, seen);
    if (ackedAt.has(v)) afterAck.push(`${v} at count ${job.deliveryCount}`);
    try {
      await job.ack();
    } catch (err) {
      ackErrors.set(v, (err as Error).message);
      throw err;
    }
    ackedAt.set(v, Date.now());
  };
  const workers = ['w0', 'w1'].map((workerId) => new QueueConsumer({
    brokers: coordinatorFirst(cluster, first), groupId: group, topics: topic, workerId, concurrency: 4, maxWaitMs: 500, retryBackoffMs: 100,
  }));
  // An ack in flight at the kill fails: run() then releases the job, which comes back; the
  // handler's second delivery acks it. Such a failure is not what this test is about.
  const runs = workers.map((w) => w.run(handler).catch(() => undefined));
  t.after(async () => { await Promise.all(workers.map((w) => w.close().catch(() => {}))); await Promise.all(runs); });

  // Due well after the kill and the failover (a lease of 6 s; a loaded machine takes longer):
  // the new coordinator meets them while they wait.
  const t0 = Date.now();
  const due = new Map([['d-0', t0 + 20_000], ['d-1', t0 + 30_000], ['d-2', t0 + 45_000]]);
  await Promise.all([...due].map(([value, at], i) => producer.send(topic, { value, partition: i % 2, deliverAt: new Date(at) })));
  await Promise.all(['n-0', 'n-1', 'n-2', 'n-3'].map((value, i) => producer.send(topic, { value, partition: i % 2 })));
  // The first coordinator took the delayed jobs and gave them back to wait (describe's delayed).
  // The acks are waited for at the workers: describe counts an ack once the coordinator applied
  // it, before its acks=all write is answered, and a kill in between fails that ack.
  await until(async () => {
    if (!['n-0', 'n-1', 'n-2', 'n-3'].every((v) => ackedAt.has(v))) return undefined;
    const d = await admin.describeGroup(group).catch(() => undefined);
    return d && d.delayed === due.size ? true : undefined;
  }, 60_000, 'the immediate jobs acked and the delayed ones waiting at the first coordinator');
  assert.equal([...due.keys()].filter((v) => deliveries.has(v)).length, 0, 'no delayed job handed out before the kill');

  const { old, movedAt } = await killCoordinator(cluster, admin, group);
  await Promise.all(['m-0', 'm-1'].map((value, i) => producer.send(topic, { value, partition: i % 2 })));
  const waitingAtMove = [...due].filter(([, at]) => at > movedAt).map(([v]) => v);
  assert.ok(waitingAtMove.length > 0, `the failover took ${movedAt - t0} ms, longer than every delay: nothing was tested across the move`);

  const all = [...due.keys(), 'n-0', 'n-1', 'n-2', 'n-3', 'm-0', 'm-1'];
  await until(async () => (all.every((v) => ackedAt.has(v)) ? true : undefined), 120_000, 'every job acked').catch((err: Error) => {
    const missing = all.filter((v) => !ackedAt.has(v)).map((v) => `${v} (deliveries ${JSON.stringify(deliveries.get(v) ?? [])}, ack error ${ackErrors.get(v) ?? 'none'})`);
    throw new Error(`${err.message}: not acked ${missing.join(', ')}\n${brokerWarnings(cluster)}`);
  });
  await until(async () => {
    const d = await admin.describeGroup(group).catch(() => undefined);
    return d && d.inFlight === 0 && d.available === 0 && d.delayed === 0 ? true : undefined;
  }, 60_000, 'the group holds nothing');
  console.log(`delayed jobs across the SIGKILL of share coordinator ${old}: group answered again ${movedAt - t0} ms after the first produce; ${waitingAtMove.length} still waiting then`);
  for (const [v, at] of due) {
    const d = deliveries.get(v)!;
    assert.ok(d[0]!.at >= at, `${v} handed out ${at - d[0]!.at} ms before its time`);
    // Waiting is not a delivery attempt, at either coordinator.
    assert.deepEqual(d.map((x) => x.count), [1], `${v}: delivered once, at count 1\n${brokerWarnings(cluster)}`);
  }
  assert.deepEqual(afterAck, [], 'no job handed out after its ack');
});
