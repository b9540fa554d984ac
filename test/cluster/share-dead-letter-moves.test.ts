// A rejected job is never handed out again once its reject was answered, also when the share
// coordinator is SIGKILLed before the job's dead-letter copy is written (chaos seed 75;
// docs/queue.md, "A record is archived only after its copy is written"): etcd + three broker
// processes. The copy is held back by the dead-letter topic itself: it is replicated on all
// three brokers with minInsyncReplicas 3, so while one broker is down every copy fails with
// NOT_ENOUGH_REPLICAS and the coordinator retries. One broker is stopped, the job rejected,
// the coordinator SIGKILLed, the first broker started again. The next coordinator holds the job again
// (in flight, not available), never hands it out, and writes the copy once the third
// broker is back: one copy, the job archived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import type { Job } from '../../src/client/queue-job.js';
import { Api } from '../../src/protocol/api.js';
import { readDeadLetterHeaders } from '../../src/queue/dead-letter.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { decodeBatches } from '../../src/record/index.js';
import { etcdTool } from './etcd-process.js';
import { recordsOnDisk, segmentBytes } from './fault-helpers.js';
import { brokerWarnings, queueAcrossMoves } from './share-helpers.js';

const env = brokerClusterForFile({ brokers: 3 });

test('a job rejected before the SIGKILL of its share coordinator, its dead-letter copy not yet written, is not handed out by the next one, which writes the copy', { skip: etcdTool.skip, timeout: 300_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'q-dlq-move';
  const topic = 'dlq-move-jobs';
  const dlqTopic = `${topic}.dlq`;
  const { bootstrap, first, admin, producer } = await queueAcrossMoves(t, cluster, group, topic, 1);
  const created = await cluster.request(first, Api.CreateTopics, { topics: [{ name: dlqTopic, partitions: 1, replicationFactor: 3, config: { minInsyncReplicas: 3 } }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  await producer.send(topic, { value: 'poison', partition: 0 });

  // A broker that is not the coordinator goes down: the dead-letter topic's ISR is 2 < 3.
  const other = cluster.brokers.find((b) => b.nodeId !== first)!.nodeId;
  await cluster.broker(other).kill();

  const deliveries: string[] = [];
  let rejected = false;
  const w = new QueueConsumer({
    brokers: bootstrap, groupId: group, topics: topic, workerId: 'w', concurrency: 2, maxWaitMs: 500, retryBackoffMs: 100,
    settings: { retryBackoffMs: 0, retryBackoffMaxMs: 0, maxDeliveries: 5 },
  });
  const run = w.run(async (job: Job) => {
    const v = job.value!.toString();
    deliveries.push(`${v}@${job.deliveryCount}`);
    if (v === 'poison') {
      await job.reject('bad json');
      rejected = true;
    }
  }).catch(() => undefined);
  t.after(async () => { await w.close().catch(() => {}); await run; });
  await until(async () => (rejected ? true : undefined), 60_000, 'the reject answered');
  await until(async () => (cluster.broker(first).logs().includes('dead letter write failed') ? true : undefined), 30_000, 'the copy failed at the coordinator');

  // The coordinator dies while the other broker is still down (so the copy cannot be written
  // before the move), then that broker comes back: the share state has its two in sync again.
  await cluster.broker(first).kill();
  await cluster.broker(other).restart();
  const next = await until(async () => {
    const d = await admin.describeGroup(group).catch(() => undefined);
    return d?.coordinator !== undefined && d.coordinator > 0 && d.coordinator !== first ? d.coordinator : undefined;
  }, 120_000, `share group ${group} answered by a new coordinator\n${brokerWarnings(cluster)}`);

  await producer.send(topic, { value: 'after-move', partition: 0 });
  await until(async () => (deliveries.includes('after-move@1') ? true : undefined), 90_000, `a job produced after the move handed out\n${brokerWarnings(cluster)}`);
  assert.deepEqual(deliveries, ['poison@1', 'after-move@1'], 'the rejected job is not handed to a worker again');
  const held = await admin.describeGroup(group);
  assert.deepEqual({ inFlight: held.inFlight, available: held.available, deadLettered: held.deadLettered }, { inFlight: 1, available: 0, deadLettered: 0 },
    'the next coordinator holds it for its copy');
  assert.match(cluster.broker(next).logs(), /"event":"dead letters resumed","records":1/);

  // The first broker is back: the dead-letter topic has its three in sync, the copy is written.
  await cluster.broker(first).restart();
  await until(async () => {
    const d = await admin.describeGroup(group).catch(() => undefined);
    return d && d.deadLettered === 1 && d.inFlight === 0 ? true : undefined;
  }, 120_000, `the resumed copy written and the job archived\n${brokerWarnings(cluster)}`);
  assert.deepEqual(deliveries, ['poison@1', 'after-move@1'], 'still not handed out');

  const leader = (await cluster.metadata(next, [dlqTopic])).topics[0]!.partitionInfo![0]!.leader;
  const copies = [...decodeBatches(segmentBytes(cluster.broker(leader).dataDir, dlqTopic, 0))].flatMap((b) => b.records);
  assert.equal(copies.length, 1, `one copy: ${JSON.stringify(recordsOnDisk(cluster.broker(leader).dataDir, dlqTopic))}`);
  const h = readDeadLetterHeaders(copies[0]!.headers)!;
  assert.deepEqual([copies[0]!.value!.toString(), h.cause, h.reason, h.deliveryCount], ['poison', 'rejected', 'bad json', '1']);
});
