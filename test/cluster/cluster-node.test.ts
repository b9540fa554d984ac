// A broker's cluster membership as one piece, against a real etcd: a clean stop hands the
// controller over at once (not after the lease TTL), a revoked session is followed by a new
// registration, and a topic created by the controller reaches every broker's view.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { until } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';
import type { EventLogger } from '../../src/event-logger.js';

const env = etcdForFile();

// Long, so that "handed over at once" and "after the lease expired" are far apart.
const TTL_MS = 30_000;

function node(cluster: string, nodeId: number, t: { after(fn: () => Promise<void>): void }, log?: EventLogger): ClusterNode {
  const logger = log ?? (process.env.DEBUG_CLUSTER ? debugLogger(nodeId) : undefined);
  const n = new ClusterNode(env.client, { nodeId, advertisedUrl: `ws://127.0.0.1:${9000 + nodeId}`, clusterName: cluster, sessionTtlMs: TTL_MS, ...(logger ? { log: logger } : {}) });
  t.after(() => n.stop());
  return n;
}

test('a clean stop hands the controller to the next broker at once, not after the lease TTL', { skip: etcdTool.skip }, async (t) => {
  const a = node('handover', 1, t);
  const b = node('handover', 2, t);
  const aLeads = once(a, 'controller');
  await a.start();
  await aLeads;
  await b.start();
  assert.equal(b.isController, false);
  const bLeads = once(b, 'controller');
  const stoppedAt = performance.now();
  await a.stop();
  await bLeads;
  const took = performance.now() - stoppedAt;
  assert.ok(took < TTL_MS / 2, `handed over in ${Math.round(took)} ms (the TTL is ${TTL_MS} ms)`);
  assert.deepEqual([...b.directory.brokers().keys()], [2], 'the stopped broker left the directory at once');
});

test('a broker whose lease etcd revoked registers again with a new session, and says so to the logger it was handed', { skip: etcdTool.skip }, async (t) => {
  const events: string[] = [];
  const record = (level: string) => (event: string) => { events.push(`${level} ${event}`); };
  const a = node('rejoin', 1, t, { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') });
  const watcher = node('rejoin', 2, t);
  await a.start();
  await watcher.start();
  const leaseId = (await env.client.getAll().prefix(a.keys.brokersPrefix).exec()).kvs.find((kv) => kv.key.toString().endsWith('/1'))!.lease;
  const lost = once(a, 'sessionLost');
  const back = new Promise<void>((resolveP) => { a.on('registered', () => { resolveP(); }); });
  await env.client.leaseClient.leaseRevoke({ ID: leaseId });
  await lost;
  await back;
  await until(async () => (watcher.directory.brokers().has(1) ? true : undefined), 20_000, 'broker 1 to be back in the directory');
  assert.ok(a.hasSession);
  assert.ok(events.includes('error cluster.session.lost'), events.join('; '));
});

test('a topic created by the controller reaches the view of every broker with all its partitions', { skip: etcdTool.skip }, async (t) => {
  const nodes = [1, 2, 3].map((id) => node('views', id, t));
  const leads = once(nodes[0]!, 'controller');
  for (const n of nodes) await n.start();
  await leads;
  // The default replication factor is min(3, the live brokers the controller has seen).
  await until(async () => (nodes[0]!.directory.brokers().size === 3 ? true : undefined), 20_000, 'the controller to see all three brokers');
  await nodes[0]!.topicAdmin().createTopic({ name: 'events', partitions: 4 });
  for (const n of nodes) {
    await until(async () => ([...n.view.partitions()].filter((p) => p.topic === 'events').length === 4 ? true : undefined), 20_000, `broker to see 4 partitions`);
    assert.equal(n.view.topic('events')?.replicationFactor, 3);
  }
  await assert.rejects(nodes[1]!.topicAdmin().createTopic({ name: 'other', partitions: 1 }), /no longer current|CONTROLLER_FENCED|another broker is the controller/, 'only the controller creates topics');
});

/** DEBUG_CLUSTER=1: a node's events on stderr. */
function debugLogger(nodeId: number): EventLogger {
  const at = (level: string) => (event: string, fields?: Record<string, unknown>) => { console.error(nodeId, level, event, fields); };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
