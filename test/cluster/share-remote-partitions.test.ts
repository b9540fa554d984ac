// A share coordinator that holds no replica of some data partitions (docs/cluster.md, "Share
// groups"): etcd + five broker processes, a topic of 5 partitions with replication factor 3,
// so the coordinator's broker holds 3 of them. Its workers ack every job of every partition,
// the poison jobs of a partition it does not hold reach the DLQ, a reset of such a partition
// is resolved at its leader, and all of it again after a SIGKILL of the coordinator. Without
// reading from remote leaders the jobs of those partitions are never handed out.
// QueueAdmin.listGroups and `sluice queue list` through one broker list the share groups of
// every coordinator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/consumer.js';
import { Producer } from '../../src/client/producer.js';
import { QueueAdmin } from '../../src/client/queue-admin.js';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import type { Job } from '../../src/client/queue-job.js';
import { SluiceError } from '../../src/errors.js';
import { Api } from '../../src/protocol/api.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { runCli } from '../integration/cli-process.js';

const BROKERS = 5;
const env = brokerClusterForFile({ brokers: BROKERS });

/** FindCoordinator (share) at `nodeId`, retried while `__share_state` is created or its partition has no leader. */
async function findShareCoordinator(cluster: BrokerCluster, nodeId: number, group: string, not?: number): Promise<number> {
  return until(async () => {
    try {
      const res = await cluster.request(nodeId, Api.FindCoordinator, { key: group, keyType: 'share' });
      return res.nodeId > 0 && res.nodeId !== not && cluster.broker(res.nodeId).running ? res.nodeId : undefined;
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) return undefined;
      throw err;
    }
  }, 60_000, `FindCoordinator(share ${group}) at broker ${nodeId}`);
}

/** The partitions of `topic` with no replica on broker `nodeId`. */
async function notOn(cluster: BrokerCluster, topic: string, nodeId: number): Promise<number[]> {
  const at = cluster.brokers.find((b) => b.running)!.nodeId;
  const md = await cluster.metadata(at, [topic]);
  return md.topics[0]!.partitionInfo!.filter((p) => !p.replicas.includes(nodeId)).map((p) => p.partition);
}

/**
 * `group`'s share coordinator, and `topic` created with `parts` partitions of replication
 * factor 3; `remote`: its partitions with no replica on the coordinator (round-robin
 * placement: each of 5 brokers holds 3 of 5 partitions, so there are some).
 */
async function topicPartlyRemote(cluster: BrokerCluster, group: string, topic: string, parts: number): Promise<{ coordinator: number; remote: number[] }> {
  const coordinator = await findShareCoordinator(cluster, 1, group);
  const created = await cluster.request(1, Api.CreateTopics, { topics: [{ name: topic, partitions: parts, replicationFactor: 3 }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  const remote = await notOn(cluster, topic, coordinator);
  assert.ok(remote.length > 0, `some partition of ${topic} has no replica on the coordinator (broker ${coordinator})`);
  return { coordinator, remote };
}

test('a share coordinator hands out, resets and dead-letters jobs of partitions it holds no replica of; workers ack every job through its SIGKILL', { skip: etcdTool.skip, timeout: 420_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'q-remote';
  const topic = 'rjobs';
  const dlq = 'rjobs.dlq';
  const PARTS = 5;
  const NORMAL = 100; // per phase, spread over every partition
  const MAX_DELIVERIES = 2;
  const { coordinator, remote } = await topicPartlyRemote(cluster, group, topic, PARTS);
  console.log(`share coordinator ${coordinator}; partitions with no replica there: ${remote.join(', ')}`);

  const bootstrap = cluster.brokers.map((b) => b.url);
  const producer = new Producer({ brokers: bootstrap, acks: 'all', lingerMs: 5 });
  t.after(() => producer.close());
  const produce = (values: { v: string; p: number }[]) => Promise.all(values.map(({ v, p }) => producer.send(topic, { value: v, partition: p })));

  const deliveries = new Map<string, number[]>();
  const ackedAt = new Map<string, number>();
  const ackUnknown = new Set<string>();
  const deliveredAfterAck: string[] = [];
  const handler = async (job: Job): Promise<void> => {
    const v = job.value!.toString();
    deliveries.set(v, [...(deliveries.get(v) ?? []), job.deliveryCount]);
    if (ackedAt.has(v)) deliveredAfterAck.push(`${v} (delivery ${job.deliveryCount})`);
    if (v.startsWith('p-')) throw new Error('poison');
    try {
      await job.ack();
    } catch (err) {
      ackUnknown.add(v); // the coordinator died with the ack in flight: settled or delivered again
      throw err;
    }
    ackedAt.set(v, Date.now());
  };
  const workerBootstrap = [cluster.broker(coordinator).url, ...bootstrap.filter((u) => u !== cluster.broker(coordinator).url)];
  const workers = [0, 1, 2].map((i) => new QueueConsumer({
    brokers: workerBootstrap, groupId: group, topics: topic, workerId: `w${i}`, concurrency: 5, maxWaitMs: 500, retryBackoffMs: 100,
    settings: { maxDeliveries: MAX_DELIVERIES, retryBackoffMs: 100, retryBackoffMaxMs: 200, deadLetterTopic: dlq },
  }));
  let stopped = 0;
  const runs = workers.map((w) => w.run(handler).finally(() => { stopped++; }));
  t.after(async () => { await Promise.all(workers.map((w) => w.close().catch(() => {}))); await Promise.all(runs.map((r) => r.catch(() => {}))); });

  const phase = (n: number) => [
    ...Array.from({ length: NORMAL }, (_, i) => ({ v: `n-${n}-${i}`, p: i % PARTS })),
    // Poison jobs where the coordinator holds no replica: the dead letter's original is read at the leader.
    ...remote.map((p) => ({ v: `p-${n}-${p}`, p })),
  ];
  const dead: string[] = [];
  const reader = new Consumer({ brokers: bootstrap, maxWaitMs: 200 });
  t.after(() => reader.close());
  const settled = (v: string) => ackedAt.has(v) || ackUnknown.has(v);
  const allDone = async (jobs: { v: string; p: number }[], what: string) => {
    const normal = jobs.map((j) => j.v).filter((v) => !v.startsWith('p-'));
    const poison = jobs.map((j) => j.v).filter((v) => v.startsWith('p-'));
    await until(async () => (normal.every(settled) && poison.every((v) => dead.includes(v)) ? true : undefined), 120_000, what).catch((err: Error) => {
      const waiting = jobs.filter((j) => !j.v.startsWith('p-') && !settled(j.v)).map((j) => `${j.v}@${j.p}: ${(deliveries.get(j.v) ?? []).join('/') || 'never delivered'}`);
      throw new Error(`${err.message}; not acked: ${waiting.slice(0, 12).join(', ')} (${waiting.length}); not in the DLQ: ${poison.filter((v) => !dead.includes(v)).join(', ')}; stopped workers ${stopped}`);
    });
  };

  const first = phase(1);
  await produce(first);
  await reader.connect();
  // The DLQ topic is created by the coordinator on the first dead letter.
  await until(async () => (await reader.assign(dlq).then(() => true, () => undefined)), 120_000, `${dlq} created`);
  void reader.run({ eachMessage: (m) => { dead.push(m.value!.toString()); } });
  await allDone(first, 'every job of phase 1 acked, every poison job in the DLQ');

  // A reset of a partition with no replica here is resolved at its leader: 'latest' is its
  // high watermark, the group's start there is past every job it acked.
  const admin = new QueueAdmin({ brokers: bootstrap });
  t.after(() => admin.close());
  const produced = (p: number) => first.filter((j) => j.p === p).length;
  const plan = await until(async () => {
    const r = await admin.resetOffsets(group, topic, 'latest', { partitions: remote, dryRun: true });
    // The group's start moves once the last ack of the partition is written: asked until it has.
    return r.every((x) => x.from === produced(x.partition)) ? r : undefined;
  }, 30_000, 'a dry-run reset of the remote partitions');
  assert.deepEqual(plan.map((x) => [x.partition, x.to]), remote.map((p) => [p, produced(p)]), 'latest is the leader\'s high watermark');

  await cluster.broker(coordinator).kill();
  const next = await findShareCoordinator(cluster, cluster.brokers.find((b) => b.running)!.nodeId, group, coordinator);
  console.log(`share coordinator ${coordinator} SIGKILLed; the new one, broker ${next}, holds no replica of partitions ${(await notOn(cluster, topic, next)).join(', ') || '(none)'}`);
  const second = phase(2);
  await produce(second);
  await allDone(second, 'every job of phase 2 acked, every poison job in the DLQ');

  assert.deepEqual(deliveredAfterAck, [], 'no acknowledged job delivered again');
  for (const { v } of [...first, ...second].filter((j) => j.v.startsWith('p-'))) {
    const counts = deliveries.get(v)!;
    assert.ok(counts.length <= MAX_DELIVERIES + 1, `${v}: at most ${MAX_DELIVERIES} (+1 across the kill) deliveries (${counts.join(', ')})`);
  }
  assert.equal(stopped, 0, 'no worker stopped');
  await cluster.broker(coordinator).restart();
});

test('QueueAdmin.listGroups and `sluice queue list` through one broker list the share groups of every coordinator', { skip: etcdTool.skip, timeout: 240_000 }, async () => {
  const cluster = env.cluster;
  await until(async () => (cluster.brokers.every((b) => b.running) ? true : undefined), 60_000, 'every broker running');
  const groups = Array.from({ length: 10 }, (_, i) => `q-list-${i}`);
  const coordinators = new Map<string, number>();
  for (const g of groups) {
    const c = await findShareCoordinator(cluster, 1, g);
    coordinators.set(g, c);
    // A heartbeat creates the group at its coordinator (retried while it loads).
    await until(async () => {
      try {
        await cluster.request(c, Api.ShareAcquire, { groupId: g, workerId: 'w', topics: ['rjobs'], maxRecords: 0, maxWaitMs: 0 });
        return true;
      } catch (err) {
        if (err instanceof SluiceError && err.retriable) return undefined;
        throw err;
      }
    }, 60_000, `group ${g} created at broker ${c}`);
  }
  assert.ok(new Set(coordinators.values()).size >= 2, `the groups have several coordinators (${[...new Set(coordinators.values())].join(', ')})`);
  for (const b of cluster.brokers) {
    const admin = new QueueAdmin({ brokers: [b.url] });
    try {
      const listed = await admin.listGroups();
      assert.deepEqual(listed.filter((g) => g.startsWith('q-list-')), [...groups].sort(), `listed through broker ${b.nodeId}`);
    } finally {
      await admin.close();
    }
  }
  const cli = await runCli(cluster.broker(1).url, ['queue', 'list']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(cli.stdout.split('\n').filter((l) => l.startsWith('q-list-')), [...groups].sort());
});

test('startFrom latest starts the partitions the coordinator holds no replica of at their leader\'s end, and cancel by offset and by key works on them', { skip: etcdTool.skip, timeout: 300_000 }, async (t) => {
  const cluster = env.cluster;
  await until(async () => (cluster.brokers.every((b) => b.running) ? true : undefined), 60_000, 'every broker running');
  const group = 'q-latest';
  const topic = 'ljobs';
  const PARTS = 5;
  const { coordinator, remote } = await topicPartlyRemote(cluster, group, topic, PARTS);
  const bootstrap = cluster.brokers.map((b) => b.url);
  const producer = new Producer({ brokers: bootstrap, acks: 'all', lingerMs: 5 });
  const admin = new QueueAdmin({ brokers: bootstrap });
  t.after(async () => { await producer.close(); await admin.close(); });
  const send = (v: string, p: number, key?: string) => producer.send(topic, { value: v, partition: p, ...(key !== undefined && { key }) }) as Promise<{ offset: number }>;
  const everyPartition = (prefix: string) => Promise.all(Array.from({ length: PARTS * 4 }, (_, i) => send(`${prefix}-${i % PARTS}-${i}`, i % PARTS)));

  // Jobs from before the group: startFrom latest must never hand them out, wherever they live.
  await everyPartition('old');
  const seen: string[] = [];
  const worker = () => {
    const w = new QueueConsumer({
      brokers: [cluster.broker(coordinator).url, ...bootstrap], groupId: group, topics: topic, workerId: 'w0', concurrency: 5, maxWaitMs: 500, retryBackoffMs: 100,
      settings: { startFrom: 'latest' },
    });
    const run = w.run(async (job) => { seen.push(job.value!.toString()); });
    return { w, run };
  };
  let w = worker();
  t.after(async () => { await w.w.close().catch(() => {}); await w.run.catch(() => {}); });
  // A share-partition starts where the group first sees it: wait until the group has every
  // partition (a remote one once its leader's bounds came), then produce the new jobs.
  const started = await until(async () => {
    const d = await admin.describeGroup(group).catch(() => undefined);
    return d && d.partitions.length === PARTS ? d.partitions : undefined;
  }, 60_000, `group ${group} started on all ${PARTS} partitions`);
  for (const p of started) assert.equal(p.startOffset, 4, `partition ${p.partition} (${remote.includes(p.partition) ? 'no replica at the coordinator' : 'local'}) starts at its leader's end`);
  await everyPartition('new');
  await until(async () => (seen.filter((v) => v.startsWith('new-')).length === PARTS * 4 ? true : undefined), 60_000, 'every new job handed out');
  assert.deepEqual(seen.filter((v) => v.startsWith('old-')), [], 'no job from before the group was handed out');

  // Cancel on a partition the coordinator holds no replica of, with no worker running.
  await w.w.close();
  await w.run;
  const r = remote[0]!;
  const byOffset = await send(`cancel-offset-${r}`, r);
  await send(`cancel-key-a-${r}`, r, 'kill');
  await send(`keep-${r}`, r, 'keep');
  await send(`cancel-key-b-${r}`, r, 'kill');
  const one = await admin.cancel(group, topic, { partition: r, offsets: [byOffset.offset] });
  assert.deepEqual(one.map((p) => [p.partition, p.error?.code ?? 0, p.cancelled.map((c) => c.offset)]), [[r, 0, [byOffset.offset]]], 'cancel by offset on a remote partition');
  const keyed = await admin.cancel(group, topic, { key: 'kill' });
  assert.deepEqual(keyed.map((p) => p.error?.code ?? 0), Array.from({ length: PARTS }, () => 0), `cancel by key on every partition: ${JSON.stringify(keyed.map((p) => p.error))}`);
  assert.deepEqual(keyed.find((p) => p.partition === r)!.cancelled.map((c) => c.offset), [byOffset.offset + 1, byOffset.offset + 3], 'the two jobs keyed kill on the remote partition');
  await send(`tail-${r}`, r);
  w = worker();
  await until(async () => (seen.includes(`tail-${r}`) && seen.includes(`keep-${r}`) ? true : undefined), 60_000, 'the jobs not cancelled handed out');
  assert.deepEqual(seen.filter((v) => v.startsWith('cancel-')), [], 'no cancelled job handed out');
});
