// Topic changes routed to the controller (issue 13 rough edges d and e).
// Auto-create in cluster mode: the first produce to an unknown topic
// creates it through the controller, from whichever broker it reached. Produce requests for
// the same new topic reaching all three brokers at once race to create it: the race must
// end with one topic (one topic id in etcd) and no broker may answer with an error that a
// client would not retry (TOPIC_ALREADY_EXISTS, which the losers' creations get from the
// controller). NOT_LEADER_OR_FOLLOWER and UNKNOWN_TOPIC_OR_PARTITION are fine: the client
// refreshes metadata and goes to the leader.
// Forwarding is bounded: a request one broker forwarded to another (`forwardedBy`) is handled
// there as the controller or refused with NOT_CONTROLLER, never forwarded again, so brokers
// with stale views of the controller cannot bounce it between them.
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

test('a forwarded topic change reaching a broker that is not the controller is refused with NOT_CONTROLLER, not forwarded again; the controller takes it', { skip: etcdTool.skip, timeout: 120_000 }, async () => {
  const controller = (await cluster().metadata()).controllerId!;
  assert.ok(controller >= 1, 'a controller');
  const other = [1, 2, 3].find((id) => id !== controller)!;
  const create = (at: number, name: string) => cluster().request(at, Api.CreateTopics, { topics: [{ name, partitions: 1 }], forwardedBy: controller });
  const refused = (await create(other, 'forwarded-once')).topics[0]!;
  assert.equal(refused.error && errorName(refused.error.code), 'NOT_CONTROLLER', JSON.stringify(refused));
  const md = await cluster().metadata(controller, ['forwarded-once']);
  assert.ok(md.topics[0]?.error, 'nothing was created by a second hop');

  const taken = (await cluster().request(controller, Api.CreateTopics, { topics: [{ name: 'forwarded-once', partitions: 1 }], forwardedBy: other })).topics[0]!;
  assert.equal(taken.error, undefined, JSON.stringify(taken));
  await until(async () => ((await partition0(cluster(), 'forwarded-once', other)) ? true : undefined), 30_000, 'the topic in the other broker\'s view');
  const grow = (await cluster().request(other, Api.CreatePartitions, { topics: [{ name: 'forwarded-once', totalPartitions: 2 }], forwardedBy: controller })).topics[0]!;
  assert.equal(grow.error && errorName(grow.error.code), 'NOT_CONTROLLER');
  const del = (await cluster().request(other, Api.DeleteTopics, { topics: ['forwarded-once'], forwardedBy: controller })).topics[0]!;
  assert.equal(del.error && errorName(del.error.code), 'NOT_CONTROLLER');
  // A client's own request (no forwardedBy) to the same broker is still forwarded once and done.
  const direct = (await cluster().request(other, Api.DeleteTopics, { topics: ['forwarded-once'] })).topics[0]!;
  assert.equal(direct.error, undefined, JSON.stringify(direct));
});
