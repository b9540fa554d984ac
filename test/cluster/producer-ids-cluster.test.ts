// InitProducerId in cluster mode: every broker takes ids from blocks claimed in etcd
// (cluster/producer-id-blocks.ts), so ids are unique across the cluster, also after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from '../../src/protocol/api.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';

const env = brokerClusterForFile({ brokers: 2 });

test('producer ids from two brokers never collide, before and after a broker restart', { skip: etcdTool.skip }, async () => {
  const ids: number[] = [];
  const ask = async (nodeId: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await env.cluster.request(nodeId, Api.InitProducerId, {});
      assert.equal(r.producerEpoch, 0);
      ids.push(r.producerId);
    }
  };
  await ask(1, 3);
  await ask(2, 3);
  await env.cluster.broker(1).restart();
  await ask(1, 3);
  assert.equal(new Set(ids).size, ids.length, `distinct: ${ids.join(',')}`);
  // Each broker's first id opens a block of its own (1000 ids): the two brokers' ids are far apart.
  assert.ok(Math.abs(ids[0]! - ids[3]!) >= 1000, `separate blocks: ${ids[0]} and ${ids[3]}`);
});
