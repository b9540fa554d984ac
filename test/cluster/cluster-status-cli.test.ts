// `sluice cluster status` against a real etcd: brokers alive and dead, the controller, and
// offline / under-replicated partitions, with exit status 2 while a partition is offline.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { runCli } from '../integration/cli-process.js';
import { startMember } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';

const env = etcdForFile();

test('cluster status names dead brokers, the controller and unhealthy partitions, and exits 2 while one is offline', { skip: etcdTool.skip }, async (t) => {
  const keys = new ClusterKeys('status');
  const m = startMember(env.etcd.url, 1, { CLUSTER: 'status', TTL_MS: '5000' });
  t.after(() => { m.kill(); });
  await m.next('elected');
  const put = (p: number, s: object) => env.client.put(keys.partition('orders', p)).value(JSON.stringify(s));
  await put(0, { replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] });
  await put(1, { replicas: [1, 2], leader: 1, leaderEpoch: 3, isr: [1] });

  const healthy = await runCli('', ['cluster', 'status', '--etcd', env.etcd.url, '--cluster-name', 'status', '--json']);
  assert.equal(healthy.code, 0, healthy.stderr);
  const s = JSON.parse(healthy.stdout) as { brokers: { nodeId: number; alive: boolean }[]; controller: number; offline: unknown[]; underReplicated: { partition: number }[] };
  assert.deepEqual(s.brokers.map((b) => [b.nodeId, b.alive]), [[1, true], [2, false]], 'broker 2 holds replicas but is not registered');
  assert.equal(s.controller, 1);
  assert.deepEqual(s.underReplicated.map((p) => p.partition), [1]);

  await put(2, { replicas: [2], leader: -1, leaderEpoch: 1, isr: [2] });
  const offline = await runCli('', ['cluster', 'status', '--etcd', env.etcd.url, '--cluster-name', 'status']);
  assert.equal(offline.code, 2, 'an offline partition makes the exit status 2');
  assert.match(offline.stdout, /orders\s+2\s+offline\s+-1/);
  assert.match(offline.stdout, /orders\s+1\s+under-replicated\s+1/);
  assert.match(offline.stdout, /controller: 1; partitions: 3, offline: 1, under-replicated: 1/);
});

test('a partition whose leader is not registered counts as offline, not under-replicated', { skip: etcdTool.skip }, async () => {
  const keys = new ClusterKeys('deadleader');
  await env.client.put(keys.partition('orders', 0)).value(JSON.stringify({ replicas: [5, 6], leader: 5, leaderEpoch: 2, isr: [5] }));
  const r = await runCli('', ['cluster', 'status', '--etcd', env.etcd.url, '--cluster-name', 'deadleader']);
  assert.equal(r.code, 2, `a dead leader's partition is unavailable; stdout:\n${r.stdout}`);
  assert.match(r.stdout, /orders\s+0\s+offline\s+5\s+2\s+5,6\s+5/);
  assert.match(r.stdout, /controller: none; partitions: 1, offline: 1, under-replicated: 0/);
});

test('cluster status names the etcd it could not reach', { skip: etcdTool.skip }, async () => {
  const r = await runCli('', ['cluster', 'status', '--etcd', 'http://127.0.0.1:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read the cluster from etcd at http:\/\/127\.0\.0\.1:1/);
});
