// Cluster mode end to end: real etcd, three real broker processes (test/cluster/broker-cluster.ts),
// one cluster for the whole file. Broker 3 reaches etcd through a TCP proxy that the last test
// cuts. Tests that kill or stop a broker start it again before they end.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Api, type MetadataResponse, type PartitionMetadata } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/errors.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { parsePartitionState } from '../../src/cluster/partition-state.js';
import { runCli } from '../integration/cli-process.js';
import { metricValue } from '../integration/broker-helpers.js';
import { brokerClusterForFile, untilAllRegistered, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { freePort } from '../free-port.js';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.js';

const TTL_MS = 6000;
/** Room for a CI machine that stalls for seconds on top of what is measured. */
const STALL_MARGIN_MS = 15_000;
const skip = etcdTool.skip;

let proxy: TcpProxy | undefined;
const env = brokerClusterForFile({
  brokers: 3,
  sessionTtlMs: TTL_MS,
  etcdUrlFor: async (nodeId, etcd) => {
    if (nodeId !== 3) return etcd.url;
    proxy = await startTcpProxy(Number(new URL(etcd.url).port));
    return proxy.url;
  },
});

after(async () => { await proxy?.close(); });

function cluster(): BrokerCluster {
  return env.cluster;
}

/** Metadata of one topic from broker `nodeId`; undefined while it does not know it. */
async function topicAt(nodeId: number, topic: string): Promise<PartitionMetadata[] | undefined> {
  const md = await cluster().metadata(nodeId, [topic]);
  const t = md.topics[0];
  return t && !t.error ? t.partitionInfo : undefined;
}

async function createTopic(nodeId: number, name: string, partitions: number, replicationFactor?: number) {
  const res = await cluster().request(nodeId, Api.CreateTopics, { topics: [{ name, partitions, ...(replicationFactor === undefined ? {} : { replicationFactor }) }] });
  return res.topics[0]!;
}

async function controllerId(): Promise<number> {
  return until(async () => (await cluster().metadata()).controllerId, 30_000, 'a controller');
}

function dirsOf(nodeId: number, topic: string, partitions: number): boolean[] {
  const dir = cluster().broker(nodeId).dataDir;
  return Array.from({ length: partitions }, (_, p) => existsSync(join(dir, `${topic}-${p}`)));
}

/** Brokers as Metadata names them, without the fields that differ by nothing but order. */
function summary(md: MetadataResponse) {
  return { brokers: md.brokers, controllerId: md.controllerId, topics: md.topics.map((t) => ({ name: t.name, partitionInfo: t.partitionInfo })) };
}

test('three brokers register, one is the controller, and every broker answers the same Metadata', { skip }, async () => {
  const c = cluster();
  const answers = await until(async () => {
    const all = await Promise.all([1, 2, 3].map((id) => c.metadata(id)));
    const first = JSON.stringify(summary(all[0]!));
    return all[0]!.controllerId !== undefined && all.every((m) => JSON.stringify(summary(m)) === first) ? all : undefined;
  }, 30_000, 'the same Metadata from every broker');
  assert.deepEqual(answers[0]!.brokers, [1, 2, 3].map((id) => ({ nodeId: id, url: c.broker(id).url })));
  const active = await Promise.all([1, 2, 3].map((id) => metricValue(c.broker(id).httpUrl, 'sluice_cluster_controller_active')));
  assert.deepEqual(active.filter((v) => v === 1).length, 1, `controller_active per broker: ${active}`);
  assert.equal(active[answers[0]!.controllerId! - 1], 1, 'the broker Metadata names as controller says it is');
  for (const id of [1, 2, 3]) {
    assert.equal(await metricValue(c.broker(id).httpUrl, 'sluice_cluster_live_brokers'), 3);
    assert.equal(await metricValue(c.broker(id).httpUrl, 'sluice_cluster_session_up'), 1);
    const ready = await fetch(`${c.broker(id).httpUrl}/readyz`);
    assert.equal(ready.status, 200);
  }
});

test('a topic created through a broker that is not the controller is answered once visible there, has its logs on every placed broker, and spreads its leaders', { skip }, async () => {
  const ctl = await controllerId();
  const via = [1, 2, 3].find((id) => id !== ctl)!;
  const r = await createTopic(via, 'spread', 3, 3);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  // Right after the answer, the broker that answered already shows it (no waiting here).
  const parts = await topicAt(via, 'spread');
  assert.ok(parts, 'the answering broker knows the topic as soon as it answered');
  assert.equal(parts.length, 3);
  for (const p of parts) {
    assert.deepEqual([...p.replicas].sort(), [1, 2, 3]);
    assert.equal(p.leader, p.replicas[0]);
    assert.equal(p.leaderEpoch, 0);
  }
  assert.equal(new Set(parts.map((p) => p.leader)).size, 3, `leaders spread over the three brokers: ${parts.map((p) => p.leader)}`);
  assert.deepEqual(dirsOf(via, 'spread', 3), [true, true, true], 'the answering broker created its replicas before it answered');
  await until(async () => ([1, 2, 3].every((id) => dirsOf(id, 'spread', 3).every(Boolean)) ? true : undefined), 30_000, 'every placed broker holding the logs');
  const md = await cluster().metadata(ctl, ['spread']);
  assert.equal(md.topics[0]!.config.minInsyncReplicas, 2, 'minInsyncReplicas defaults to 2 with three replicas');
});

test('a value in etcd that no broker wrote is skipped and logged, and the brokers keep answering', { skip }, async () => {
  const client = new Etcd3({ hosts: cluster().etcd.url });
  try {
    await client.put(new ClusterKeys('sluice').topic('not-json')).value('{oops');
    await until(async () => (/cluster\.view\.invalid-value.*not-json/.test(cluster().broker(1).logs()) ? true : undefined), 30_000, 'the warning');
    const md = await cluster().metadata(1);
    assert.equal(md.topics.some((t) => t.name === 'not-json'), false);
  } finally {
    await client.delete().key(new ClusterKeys('sluice').topic('not-json'));
    client.close();
  }
});

test('a replication factor above the live brokers is refused with INVALID_REPLICATION_FACTOR naming both numbers, and nothing is created', { skip }, async () => {
  const ctl = await controllerId();
  const via = [1, 2, 3].find((id) => id !== ctl)!;
  const r = await createTopic(via, 'too-many-replicas', 2, 4);
  assert.equal(r.error?.code, ERRORS.INVALID_REPLICATION_FACTOR.code, JSON.stringify(r));
  assert.match(r.error!.message, /\b4\b/);
  assert.match(r.error!.message, /\b3 live broker/);
  const md = await cluster().metadata(ctl, ['too-many-replicas']);
  assert.equal(md.topics[0]!.error?.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
});

test('a topic created on the controller is visible there when it answers; deleting it through another broker removes its logs on every broker', { skip }, async () => {
  const ctl = await controllerId();
  const via = [1, 2, 3].find((id) => id !== ctl)!;
  assert.equal((await createTopic(ctl, 'doomed', 2, 3)).error, undefined);
  // The controller answers once its own view shows what it wrote to etcd, and its replicas exist.
  assert.ok(await topicAt(ctl, 'doomed'), 'the controller knows the topic as soon as it answered');
  assert.deepEqual(dirsOf(ctl, 'doomed', 2), [true, true]);
  await until(async () => ([1, 2, 3].every((id) => dirsOf(id, 'doomed', 2).every(Boolean)) ? true : undefined), 30_000, 'the logs everywhere');
  const res = await cluster().request(via, Api.DeleteTopics, { topics: ['doomed'] });
  assert.equal(res.topics[0]!.error, undefined, JSON.stringify(res.topics[0]));
  assert.equal(await topicAt(via, 'doomed'), undefined, 'gone from the answering broker as soon as it answered');
  await until(async () => ([1, 2, 3].every((id) => dirsOf(id, 'doomed', 2).every((x) => !x)) ? true : undefined), 30_000, 'no broker holding its logs');
});

test('SIGKILL of a partition leader: another broker soon names a new leader from the ISR at a higher epoch', { skip }, async () => {
  const c = cluster();
  assert.equal((await createTopic(1, 'failover', 3, 3)).error, undefined);
  const before = (await until(() => topicAt(2, 'failover'), 30_000, 'the topic at broker 2'))!;
  // A partition led by broker 1 or 2 (broker 3's etcd link is the last test's business).
  const victim = before.find((p) => p.leader === 1 || p.leader === 2)!;
  const dead = victim.leader;
  const witness = dead === 1 ? 2 : 1;
  const killedAt = Date.now();
  await c.broker(dead).kill();
  const after = await until(async () => {
    const p = (await topicAt(witness, 'failover'))?.[victim.partition];
    return p && p.leader !== dead && p.leader !== -1 ? p : undefined;
  }, TTL_MS + STALL_MARGIN_MS, `a new leader of failover-${victim.partition}`);
  const took = Date.now() - killedAt;
  assert.ok(victim.isr.includes(after.leader), `new leader ${after.leader} was in the ISR ${victim.isr}`);
  assert.ok(after.leaderEpoch > victim.leaderEpoch, `epoch ${after.leaderEpoch} > ${victim.leaderEpoch}`);
  assert.ok(!after.isr.includes(dead), 'the dead broker left the ISR');
  assert.ok(took < TTL_MS + STALL_MARGIN_MS, `failover took ${took} ms`);
  assert.ok(await metricValue(c.broker(await controllerId()).httpUrl, 'sluice_cluster_leader_elections_total') >= 1);
  await c.broker(dead).restart();
  await untilAllRegistered(c);
});

test('a second broker with the node id of a live one stops at start, naming the setting', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-dup-'));
  try {
    const { code, stdout, stderr } = await runCli(undefined, [
      'broker', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir,
      '--node-id', '1', '--etcd', cluster().etcd.url, '--etcd-session-ttl-ms', String(TTL_MS),
    ]);
    const out = stdout + stderr;
    assert.equal(code, 1, out);
    assert.match(out, /node id 1 is already registered by a live broker/);
    assert.match(out, /setting 'nodeId'/);
    assert.match(out, /"code":"NODE_ID_IN_USE","retriable":false/);
    assert.doesNotMatch(out, /"event":"ready"/);
    assert.doesNotMatch(out, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM of a leader moves its leaderships away before the process exits', { skip }, async () => {
  const c = cluster();
  assert.equal((await createTopic(1, 'handover', 3, 3)).error, undefined);
  const parts = (await until(() => topicAt(1, 'handover'), 30_000, 'the topic'))!;
  const leaving = parts.find((p) => p.leader === 1 || p.leader === 2)!.leader;
  const led = parts.filter((p) => p.leader === leaving).map((p) => p.partition);
  const code = await c.broker(leaving).stop('SIGTERM');
  assert.equal(code, 0, c.broker(leaving).logs());
  // etcd itself, read the moment the process is gone: nothing is led by it any more.
  const client = new Etcd3({ hosts: c.etcd.url });
  try {
    const keys = new ClusterKeys('sluice');
    for (const p of led) {
      const kv = (await client.get(keys.partition('handover', p)).exec()).kvs[0]!;
      const s = parsePartitionState(kv.value.toString());
      assert.notEqual(s.leader, leaving, `handover-${p} still led by the stopped broker ${leaving}`);
      assert.notEqual(s.leader, -1, `handover-${p} has a leader`);
    }
  } finally {
    client.close();
  }
  assert.match(c.broker(leaving).logs(), /controlled shutdown: leaderships moved/);
  const witness = leaving === 1 ? 2 : 1;
  await until(async () => ((await topicAt(witness, 'handover'))?.every((p) => p.leader !== leaving) ? true : undefined), 10_000, 'the witness\'s Metadata');
  await c.broker(leaving).restart();
  await untilAllRegistered(c);
});

test('/readyz of a broker cut off from etcd turns 503 within the session TTL and 200 again once etcd is back', { skip }, async () => {
  const b = cluster().broker(3);
  assert.equal((await fetch(`${b.httpUrl}/readyz`)).status, 200);
  const cutAt = Date.now();
  proxy!.cut();
  try {
    const body = await until(async () => {
      const res = await fetch(`${b.httpUrl}/readyz`);
      return res.status === 503 ? res.text() : undefined;
    }, TTL_MS + STALL_MARGIN_MS, '/readyz 503');
    assert.ok(Date.now() - cutAt < TTL_MS + STALL_MARGIN_MS);
    assert.match(body, /etcd session/);
    assert.equal(await metricValue(b.httpUrl, 'sluice_cluster_session_up'), 0);
  } finally {
    proxy!.restore();
  }
  await until(async () => ((await fetch(`${b.httpUrl}/readyz`)).status === 200 ? true : undefined), 60_000, '/readyz 200 after the proxy is restored');
  assert.equal(await metricValue(b.httpUrl, 'sluice_cluster_session_up'), 1);
  await untilAllRegistered(cluster());
});
