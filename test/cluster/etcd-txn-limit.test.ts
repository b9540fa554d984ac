// etcd's --max-txn-ops (docs/cluster.md, "Failover"): the controller writes a failover pass in
// transactions of up to 127 partitions and a new topic in chunks of 100, which an etcd started
// with a lower limit refuses ("too many operations in txn request"). A broker learns the limit
// at start-up and cuts its transactions to it; below what its smallest write needs, start-up
// stops naming the flag. Against real etcd processes started with --max-txn-ops 16 and 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { etcdTxnOps, WANTED_TXN_OPS } from '../../src/cluster/etcd-txn-limit.js';
import { initialState } from '../../src/cluster/partition-state.js';
import { readAllPartitionStates } from '../../src/cluster/partition-state-store.js';
import { SluiceError } from '../../src/errors.js';
import type { EventLogger } from '../../src/event-logger.js';
import { until } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';

const SMALL = 16;
const env = etcdForFile(['--max-txn-ops', String(SMALL)]);
const defaults = etcdForFile();
const tiny = etcdForFile(['--max-txn-ops', '1']);

// Long: no lease expires by accident on a stalled machine; a stopped node revokes its own.
const TTL_MS = 30_000;

function node(client: typeof env.client, cluster: string, nodeId: number, t: { after(fn: () => Promise<void>): void }, log?: EventLogger): ClusterNode {
  const n = new ClusterNode(client, { nodeId, advertisedUrl: `ws://127.0.0.1:${9000 + nodeId}`, clusterName: cluster, sessionTtlMs: TTL_MS, ...(log ? { log } : {}) });
  t.after(() => n.stop());
  return n;
}

function recorder(): { log: EventLogger; events: { event: string; fields: Record<string, unknown> }[] } {
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const rec = (event: string, fields: Record<string, unknown> = {}) => { events.push({ event, fields }); };
  return { log: { debug: rec, info: rec, warn: rec, error: rec }, events };
}

test('the probe finds etcd\'s --max-txn-ops: 16 when started so, 128 (enough) by default', { skip: etcdTool.skip }, async () => {
  assert.equal(await etcdTxnOps(env.client, '/probe/never-written'), SMALL);
  assert.equal(await etcdTxnOps(defaults.client, '/probe/never-written'), WANTED_TXN_OPS);
  assert.equal((await env.client.get('/probe/never-written').exec()).kvs.length, 0, 'the probe wrote nothing');
});

test('with --max-txn-ops 16 the controller creates a topic of 60 partitions, and a failover of 40 partitions moves every one, with a warning naming the flag', { skip: etcdTool.skip }, async (t) => {
  const { log, events } = recorder();
  const [a, b, c] = [node(env.client, 'small', 1, t, log), node(env.client, 'small', 2, t), node(env.client, 'small', 3, t)];
  const aLeads = once(a, 'controller');
  await a.start();
  await aLeads;
  await b.start();
  await c.start();
  await until(async () => (a.directory.brokers().size === 3 ? true : undefined), 20_000, 'all three in the directory');

  // A topic wider than one transaction of 16 operations: written in chunks that fit.
  await a.topicAdmin().createTopic({ name: 'wide', partitions: 60, replicationFactor: 2 });
  const created = (await readAllPartitionStates(env.client, a.keys)).states.filter((s) => s.topic === 'wide');
  assert.equal(created.length, 60, 'every partition of the new topic has its state in etcd');

  // 40 partitions led by broker 2 (written as a controller with etcd's default limit would have):
  // its death is one pass of 40 elections.
  const recordKey = a.keys.topic('led-by-2');
  await env.client.put(recordKey).value(JSON.stringify({ topicId: 'led-by-2-id', partitions: 40, replicationFactor: 2, config: {} }));
  for (let p = 0; p < 40; p++) await env.client.put(a.keys.partition('led-by-2', p)).value(JSON.stringify(initialState([2, p % 2 === 0 ? 1 : 3])));
  await until(async () => (a.view.partition('led-by-2', 39) !== undefined ? true : undefined), 20_000, 'the controller to see the 40 partitions');
  await b.stop(); // revokes its lease: the controller's pass runs at once
  const moved = await until(async () => {
    const states = (await readAllPartitionStates(env.client, a.keys)).states.filter((s) => s.topic === 'led-by-2');
    return states.length === 40 && states.every((s) => s.state.leader !== 2 && !s.state.isr.includes(2)) ? states : undefined;
  }, 30_000, 'every partition broker 2 led to get a new leader').catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; the controller's failed passes: ${JSON.stringify(events.filter((e) => e.event === 'cluster.controller.pass-failed'))}`);
  });
  for (const s of moved) {
    assert.equal(s.state.leader, s.partition % 2 === 0 ? 1 : 3, `led-by-2-${s.partition}: the other ISR member leads`);
    assert.equal(s.state.leaderEpoch, 1, `led-by-2-${s.partition}: at the next epoch`);
  }
  assert.deepEqual(events.filter((e) => e.event === 'cluster.controller.pass-failed'), [], 'no pass failed');
  const warned = events.find((e) => e.event === 'cluster.etcd.max-txn-ops-low');
  assert.ok(warned, `a warning: ${JSON.stringify(events.map((e) => e.event))}`);
  assert.equal(warned.fields.maxTxnOps, SMALL);
  assert.match(String(warned.fields.fix), /--max-txn-ops 128/);
});

test('with --max-txn-ops 1 start-up stops with INVALID_CONFIG naming the flag', { skip: etcdTool.skip }, async (t) => {
  const n = node(tiny.client, 'tiny', 1, t);
  await assert.rejects(n.start(), (err: unknown) => {
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.retriable, false);
    assert.match(err.message, /--max-txn-ops 128/);
    assert.match(err.message, /accepts 1 operations? per transaction/);
    return true;
  });
  assert.equal((await tiny.client.getAll().prefix(n.keys.brokersPrefix).keys()).length, 0, 'nothing registered');
});
