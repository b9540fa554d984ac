// Queue workers acking continuously while the broker that coordinates their share group is
// moved away by a controlled shutdown (SIGTERM, then restarted) and then SIGKILLed (then
// restarted): no job is handed to the application after an ack of it succeeded (the chaos
// checker's `acked-job-delivered-again` rule) and every job is acked. Real etcd and three
// brokers (docs/cluster.md, "Share groups"). What it guards, each seen in chaos seed 34 with
// --target-coordinator --faults move-leader,kill:
//   - an ack answered after its change went into a write that failed (ShareService.commit:
//     the broker side; the job came back at count 2 from the next coordinator);
//   - a worker handing out jobs it had prefetched from the old coordinator after the move,
//     while another worker had acked them at the new one (QueueConsumer: the client side).
// The workers take one job at a time and ack it before the next, with 5 prefetched, as the
// chaos queue workload does, and a burst of jobs comes just before each fault: a move then
// finds a backlog and jobs waiting in every worker's buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/client/producer.js';
import { QueueAdmin } from '../../src/client/queue-admin.js';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import { Api } from '../../src/protocol/api.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { findShareCoordinator } from './share-helpers.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const env = brokerClusterForFile({ brokers: 3 });
const GROUP = 'q-moves';
const TOPIC = 'moves-jobs';

/** The broker coordinating GROUP now. */
async function shareCoordinator(cluster: BrokerCluster): Promise<number> {
  return (await findShareCoordinator(cluster, GROUP)).nodeId;
}

test('acks go on while the share coordinator\'s broker is SIGTERMed (controlled shutdown) and SIGKILLed: no acked job handed out again, every job acked', { skip: etcdTool.skip, timeout: 420_000 }, async (t) => {
  const cluster = env.cluster;
  const created = await cluster.request(1, Api.CreateTopics, { topics: [{ name: TOPIC, partitions: 2, replicationFactor: 3 }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  const bootstrap = cluster.brokers.map((b) => b.url);

  // What the applications saw: acks that resolved, and any delivery after one.
  const ackedAt = new Map<string, number>();
  const ackUnknown = new Set<string>();
  const againAfterAck: string[] = [];
  const enqueued: string[] = [];
  let stopping = false;

  const producer = new Producer({ brokers: bootstrap, acks: 'all', lingerMs: 5 });
  t.after(() => producer.close());
  let seq = 0;
  /** A burst of `n` jobs: a backlog, so every worker has jobs prefetched when the fault comes. */
  const enqueue = async (n: number): Promise<void> => {
    const values = Array.from({ length: n }, () => `j-${seq++}`);
    await Promise.all(values.map(async (v, i) => {
      try {
        await producer.send(TOPIC, { value: v, partition: i % 2 });
        enqueued.push(v);
      } catch {
        // Not enqueued as far as we know; an unknown outcome is not counted (an extra job acked is fine).
      }
    }));
  };
  let producing = true;
  const enqueuer = (async () => {
    while (producing) {
      await enqueue(20);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  // Workers start at the coordinator, like the chaos run's, so the faults hit the broker they talk to.
  const first = await shareCoordinator(cluster);
  const workerBootstrap = [cluster.broker(first).url, ...bootstrap.filter((u) => u !== cluster.broker(first).url)];
  const workers: QueueConsumer[] = [];
  const worker = async (name: string): Promise<void> => {
    while (!stopping) {
      const w = new QueueConsumer({
        brokers: workerBootstrap, groupId: GROUP, topics: TOPIC, workerId: name, concurrency: 5, maxWaitMs: 500, retryBackoffMs: 100,
        requestTimeoutMs: 10_000, settings: { startFrom: 'earliest' },
      });
      workers.push(w);
      try {
        for await (const job of w) {
          const v = job.value!.toString();
          const at = ackedAt.get(v);
          if (at !== undefined) againAfterAck.push(`${v} to ${name} at count ${job.deliveryCount}, ${Date.now() - at} ms after its ack`);
          // A little work per job, so a backlog lasts through the fault.
          await new Promise((r) => setTimeout(r, 5));
          try {
            await job.ack();
            ackedAt.set(v, Date.now());
          } catch {
            ackUnknown.add(v);
          }
        }
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
      await w.close().catch(() => {});
    }
  };
  const runs = ['w1', 'w2', 'w3'].map(worker);
  t.after(async () => {
    stopping = true;
    producing = false;
    await Promise.all(workers.map((w) => w.close().catch(() => {})));
    await Promise.all(runs);
  });

  const ackedSince = (since: number) => [...ackedAt.values()].filter((at) => at > since).length;
  await until(async () => (ackedSince(0) >= 100 ? true : undefined), 90_000, '100 jobs acked before the faults');

  for (const fault of ['SIGTERM', 'SIGKILL', 'SIGTERM'] as const) {
    const coordinator = await shareCoordinator(cluster);
    const b = cluster.broker(coordinator);
    await enqueue(400);
    const at = Date.now();
    if (fault === 'SIGKILL') await b.kill();
    else await b.stop('SIGTERM');
    await until(async () => (ackedSince(at) >= 50 ? true : undefined), 90_000, `50 jobs acked after the ${fault} of broker ${coordinator}`);
    await b.restart();
    const back = Date.now();
    await until(async () => (ackedSince(back) >= 50 ? true : undefined), 90_000, `50 jobs acked after broker ${coordinator} restarted`);
  }

  producing = false;
  await enqueuer;
  const settled = (v: string) => ackedAt.has(v) || ackUnknown.has(v);
  await until(async () => (enqueued.every(settled) ? true : undefined), 120_000, 'every enqueued job acked').catch((err: Error) => {
    throw new Error(`${err.message}: not acked ${enqueued.filter((v) => !settled(v)).slice(0, 20).join(', ')}`);
  });
  // A job whose ack's answer was lost counts as acked only if nothing is left in the group.
  const admin = new QueueAdmin({ brokers: bootstrap });
  t.after(() => admin.close());
  await until(async () => {
    const d = await admin.describeGroup(GROUP).catch(() => undefined);
    return d && d.inFlight === 0 && d.available === 0 && d.delayed === 0 ? true : undefined;
  }, 90_000, 'the group holds nothing');
  console.log(`share coordinator moves: ${enqueued.length} jobs, ${ackedAt.size} acked, ${ackUnknown.size} acks with an unknown outcome`);
  assert.deepEqual(againAfterAck, [], 'no job handed out after an ack of it succeeded');
});
