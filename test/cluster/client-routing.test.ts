// A client against a real cluster (etcd + three broker processes, test/cluster/broker-cluster.ts):
// given ONE bootstrap URL, it learns the other brokers and the leaders from Metadata, produces
// each partition's messages to its leader and consumes them back from the leaders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/consumer.js';
import { Producer } from '../../src/client/producer.js';
import { Api, type PartitionMetadata } from '../../src/protocol/api.js';
import type { Message } from '../../src/client/types.js';
import { find, parseExposition } from '../metrics/exposition.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const env = brokerClusterForFile({ brokers: 3 });
const PER_PARTITION = 40;

/** Produce requests broker `httpUrl` has handled (0 before the first: the series does not exist yet). */
async function produceRequests(httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/metrics`);
  assert.equal(res.status, 200);
  return find(parseExposition(await res.text()), 'sluice_requests_total', { api: 'Produce' }).reduce((a, x) => a + x.value, 0);
}

test('one bootstrap URL: produce to and consume from all partitions of an RF 3 topic, each at its leader', { skip: etcdTool.skip }, async () => {
  const cluster = env.cluster;
  const created = await cluster.request(1, Api.CreateTopics, { topics: [{ name: 'routed', partitions: 3, replicationFactor: 3 }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  const info = await until(async () => {
    const t = (await cluster.metadata(1, ['routed'])).topics[0];
    return t && !t.error && t.partitionInfo?.every((p) => p.leader > 0) ? t.partitionInfo : undefined;
  }, 30_000, 'leaders for every partition of routed');
  const leaders = info.map((p: PartitionMetadata) => p.leader);
  assert.ok(new Set(leaders).size >= 2, `partitions led by different brokers (leaders ${leaders.join(',')})`);
  const producesBefore = await Promise.all(cluster.brokers.map((b) => produceRequests(b.httpUrl)));

  const bootstrap = [cluster.broker(1).url];
  const producer = new Producer({ brokers: bootstrap, acks: 'all', lingerMs: 0 });
  try {
    for (let i = 0; i < PER_PARTITION; i++) {
      await Promise.all([0, 1, 2].map((p) => producer.send('routed', { value: `p${p}-${i}`, partition: p })));
    }
  } finally {
    await producer.close();
  }
  const producesAfter = await Promise.all(cluster.brokers.map((b) => produceRequests(b.httpUrl)));
  cluster.brokers.forEach((b, i) => {
    const got = producesAfter[i] - producesBefore[i];
    if (leaders.includes(b.nodeId)) assert.ok(got > 0, `broker ${b.nodeId} leads a partition and took its produce requests`);
    else assert.equal(got, 0, `broker ${b.nodeId} leads nothing and took no produce request`);
  });

  const consumer = new Consumer({ brokers: bootstrap, maxWaitMs: 100 });
  try {
    await consumer.assign('routed');
    const got: Message[] = [];
    const it = consumer[Symbol.asyncIterator]();
    while (got.length < 3 * PER_PARTITION) {
      const r = await it.next();
      if (r.done) break;
      got.push(r.value);
    }
    for (const p of [0, 1, 2]) {
      const values = got.filter((m) => m.partition === p).map((m) => m.value!.toString());
      assert.deepEqual(values, Array.from({ length: PER_PARTITION }, (_, i) => `p${p}-${i}`), `partition ${p}: every message once, in order`);
    }
  } finally {
    await consumer.close();
  }
});
