// Auto-create in cluster mode (issue 13 rough edge d): the first produce to an unknown topic
// creates it through the controller, from whichever broker it reached. Produce requests for
// the same new topic reaching all three brokers at once race to create it: the race must
// end with one topic (one topic id in etcd) and no broker may answer with an error that a
// client would not retry (TOPIC_ALREADY_EXISTS, which the losers' creations get from the
// controller). NOT_LEADER_OR_FOLLOWER and UNKNOWN_TOPIC_OR_PARTITION are fine: the client
// refreshes metadata and goes to the leader.
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/record/encoder.js';
import { Api } from '../../src/protocol/api.js';
import { errorName } from '../../src/protocol/errors.js';
import { ERRORS, type WireErrorName } from '../../src/errors.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { partition0, produceOk } from './fault-helpers.js';
import { until } from './cluster-helpers.js';

const env = brokerClusterForFile({ brokers: 3, args: ['--auto-create-topics', 'true'] });
const cluster = (): BrokerCluster => env.cluster;

async function produceNew(nodeId: number, topic: string): Promise<string> {
  const res = await cluster().broker(nodeId).client().request(Api.Produce, {
    acks: 1, timeoutMs: 10_000, partitions: [{ topic, partition: 0, records: encodeBatch([{ value: `from ${nodeId}` }]) }],
  }, 30_000);
  const p = res.partitions[0]!;
  return p.error && p.error.code !== 0 ? errorName(p.error.code) : 'ok';
}

test('produce requests for one new topic reaching every broker at once: one topic, and every answer ok or retriable', { skip: etcdTool.skip, timeout: 120_000 }, async (t) => {
  const keys = new ClusterKeys('sluice');
  const etcd = new Etcd3({ hosts: cluster().etcd.url });
  t.after(() => etcd.close());
  for (let round = 0; round < 5; round++) {
    const topic = `raced-${round}`;
    const answers = await Promise.all([1, 2, 3].map((id) => produceNew(id, topic)));
    for (const a of answers) assert.ok(a === 'ok' || ERRORS[a as WireErrorName]?.retriable === true, `round ${round}: answers ${answers.join(', ')}`);
    const stored = await etcd.getAll().prefix(keys.topic(topic)).strings();
    assert.equal(Object.keys(stored).length, 1, `one topic record: ${JSON.stringify(stored)}; answers ${answers.join(', ')}`);
    // And it works: the leader takes a produce, every broker's Metadata names the same leader.
    const p = await until(async () => { const q = await partition0(cluster(), topic); return q && q.leader >= 0 ? q : undefined; }, 30_000, `${topic} led`);
    await produceOk(cluster(), p.leader, topic, ['after'], 1);
  }
});
