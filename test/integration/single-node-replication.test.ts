// A single broker (no `etcd` setting) holds one replica of everything: CreateTopics refuses
// another replication factor and a minInsyncReplicas it could never meet, and Metadata keeps
// its single-broker shape (no brokers, controllerId or partitionInfo: docs/protocol.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerForFile } from './broker-helpers.js';
import { Api } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';

const env = brokerForFile();

test('a replication factor other than 1 is INVALID_REPLICATION_FACTOR on a single broker; 1 and none are fine', async () => {
  const res = await env.client.request({ api: Api.CreateTopics, topics: [
    { name: 'rf2', partitions: 1, replicationFactor: 2 },
    { name: 'rf1', partitions: 1, replicationFactor: 1 },
    { name: 'rfnone', partitions: 1 },
  ] });
  const [rf2, rf1, none] = res.topics as { name: string; error?: { code: number; message: string } }[];
  assert.equal(rf2!.error?.code, ERRORS.INVALID_REPLICATION_FACTOR.code);
  assert.match(rf2!.error!.message, /replication factor 2 .*a single broker holds one replica/);
  assert.equal(rf1!.error, undefined);
  assert.equal(none!.error, undefined);
  const md = await env.client.request({ api: Api.Metadata });
  assert.deepEqual((md.topics as { name: string }[]).map((t) => t.name), ['rf1', 'rfnone']);
  assert.equal(md.brokers, undefined);
  assert.equal(md.controllerId, undefined);
  assert.equal((md.topics as { partitionInfo?: unknown }[])[0]!.partitionInfo, undefined);
});

test('minInsyncReplicas is a topic config: 1 is kept, more than the one replica is INVALID_CONFIG', async () => {
  const res = await env.client.request({ api: Api.CreateTopics, topics: [
    { name: 'mir1', partitions: 1, config: { minInsyncReplicas: 1 } },
    { name: 'mir2', partitions: 1, config: { minInsyncReplicas: 2 } },
  ] });
  const [ok, bad] = res.topics as { error?: { code: number; message: string } }[];
  assert.equal(ok!.error, undefined);
  assert.equal(bad!.error?.code, ERRORS.INVALID_CONFIG.code);
  assert.match(bad!.error!.message, /minInsyncReplicas 2/);
  const md = await env.client.request({ api: Api.Metadata, topics: ['mir1'] });
  assert.deepEqual((md.topics as { config: object }[])[0]!.config, { minInsyncReplicas: 1 });
});
