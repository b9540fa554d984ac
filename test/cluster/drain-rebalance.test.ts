// `sluice cluster drain` and `sluice cluster rebalance` against a real etcd and four broker
// processes (issue 14): drain empties a broker (no replica left in etcd, its logs deleted);
// rebalance after a broker joins gives it replicas. Both are reassignments
// (test/cluster/reassign.test.ts tries to break those).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Api } from '../../src/protocol/api.js';
import { runCli } from '../integration/cli-process.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const env = brokerClusterForFile({ brokers: 4 });
const cluster = (): BrokerCluster => env.cluster;
const TOPIC = 'spread';
const WAIT_MS = 90_000;

async function replicasPerBroker(): Promise<Map<number, number>> {
  const md = await cluster().metadata(1, [TOPIC]);
  const c = new Map<number, number>([[1, 0], [2, 0], [3, 0], [4, 0]]);
  for (const p of md.topics[0]!.partitionInfo ?? []) for (const b of p.replicas) c.set(b, c.get(b)! + 1);
  return c;
}

test('drain moves every replica off a broker and it deletes its logs; rebalance gives it replicas again', { skip: etcdTool.skip, timeout: 170_000 }, async () => {
  const res = await cluster().request(1, Api.CreateTopics, { topics: [{ name: TOPIC, partitions: 4, replicationFactor: 2 }] });
  assert.equal(res.topics[0]!.error, undefined);
  await until(async () => {
    const md = await cluster().metadata(1, [TOPIC]);
    return md.topics[0]?.partitionInfo?.every((p) => p.leader >= 0 && p.isr.length === 2) ? true : undefined;
  }, 30_000, 'every partition led with 2 in sync');
  const before = await replicasPerBroker();
  assert.ok(before.get(4)! > 0, `broker 4 holds replicas before the drain (${JSON.stringify([...before])})`);

  const drained = await runCli(cluster().broker(1).url, ['cluster', 'drain', '4', '--wait', '--timeout-ms', String(WAIT_MS)]);
  assert.equal(drained.code, 0, drained.stderr);
  assert.match(drained.stderr, /reassigning spread-\d: [\d,]+ -> [\d,]+/);
  assert.match(drained.stderr, /done: \d+ partition\(s\) moved/);
  const after = await replicasPerBroker();
  assert.equal(after.get(4), 0, `no replica left on broker 4 (${JSON.stringify([...after])})`);
  await until(() => Promise.resolve([0, 1, 2, 3].some((p) => existsSync(join(cluster().broker(4).dataDir, `${TOPIC}-${p}`))) ? undefined : true), 30_000, 'broker 4 deleted its logs');

  const balanced = await runCli(cluster().broker(2).url, ['cluster', 'rebalance', '--wait', '--timeout-ms', String(WAIT_MS)]);
  assert.equal(balanced.code, 0, balanced.stderr);
  const end = await replicasPerBroker();
  assert.equal(end.get(4), 2, `broker 4 gets its share: 8 replicas over 4 brokers (${JSON.stringify([...end])})`);
  const again = await runCli(cluster().broker(2).url, ['cluster', 'rebalance']);
  assert.match(again.stderr, /nothing to move/);
});
