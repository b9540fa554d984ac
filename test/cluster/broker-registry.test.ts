// Membership through etcd leases, against a real etcd: one live broker per node id, a dead
// broker leaves the directory within its lease TTL, a restarted one gets its id back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerDirectory, registerBroker } from '../../src/cluster/broker-registry.js';
import { NodeIdInUseError } from '../../src/cluster/errors.js';
import { EtcdSession } from '../../src/cluster/etcd-session.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { startMember } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';

const TTL_MS = 2000;
const env = etcdForFile();

const opts = { skip: etcdTool.skip };

test('a second broker with the node id of a live one is refused, naming the id and the holder', opts, async () => {
  const keys = new ClusterKeys('dup');
  const a = await EtcdSession.open(env.client, { ttlMs: TTL_MS });
  const b = await EtcdSession.open(env.client, { ttlMs: TTL_MS });
  try {
    await registerBroker(env.client, keys, a, { nodeId: 1, url: 'ws://a:1', startedAt: Date.now() });
    await assert.rejects(
      registerBroker(env.client, keys, b, { nodeId: 1, url: 'ws://b:1', startedAt: Date.now() }, 300),
      (err: unknown) => err instanceof NodeIdInUseError && /node id 1\b/.test(err.message) && err.message.includes('ws://a:1'),
    );
    // Another id is fine.
    await registerBroker(env.client, keys, b, { nodeId: 2, url: 'ws://b:1', startedAt: Date.now() });
    const dir = await BrokerDirectory.open(env.client, keys);
    assert.deepEqual([...dir.brokers().keys()].sort(), [1, 2]);
    await dir.close();
  } finally {
    await a.close();
    await b.close();
  }
});

test('keep-alives hold the registration for many TTLs while the broker lives', opts, async () => {
  const keys = new ClusterKeys('alive');
  const s = await EtcdSession.open(env.client, { ttlMs: 1000 });
  let fenced = false;
  s.on('fenced', () => { fenced = true; });
  try {
    await registerBroker(env.client, keys, s, { nodeId: 7, url: 'ws://x:1', startedAt: Date.now() });
    // Keep-alives go every TTL/3: nine answered ones span three TTLs.
    await new Promise<void>((resolveP) => {
      let n = 0;
      s.lease.on('keepaliveSucceeded', () => { if (++n === 9) resolveP(); });
    });
    assert.equal(fenced, false, 'a session whose keep-alives are answered is never fenced');
    assert.ok(s.isValid());
    assert.notEqual(await env.client.get(keys.broker(7)).string(), null, 'the registration outlived three TTLs');
  } finally {
    await s.close();
  }
  assert.equal(await env.client.get(keys.broker(7)).string(), null, 'closing the session removes the registration at once');
});

test('a SIGKILLed broker leaves the directory within its lease TTL, and its restart gets the id back', opts, async (t) => {
  const keys = new ClusterKeys('sluice');
  const dir = await BrokerDirectory.open(env.client, keys);
  t.after(() => dir.close());
  const m = startMember(env.etcd.url, 3, { TTL_MS: String(TTL_MS) });
  t.after(() => { m.kill(); });
  await m.next('registered');
  assert.ok(dir.brokers().has(3), 'the directory saw the registration');

  const gone = new Promise<number>((resolveP) => {
    dir.on('change', (live) => { if (!live.has(3)) resolveP(performance.now()); });
  });
  const killedAt = performance.now();
  m.kill();
  // A restart right away: the previous life's key still holds the id until its lease expires.
  const again = startMember(env.etcd.url, 3, { TTL_MS: String(TTL_MS) });
  t.after(() => { again.kill(); });
  const leftAfter = (await gone) - killedAt;
  // etcd expires the lease TTL after its last keep-alive; its expiry check runs every 500 ms.
  // 10 s leaves room for a stalled machine and still tells "expired" from "stays forever".
  assert.ok(leftAfter < 10_000, `the dead broker left the directory after ${Math.round(leftAfter)} ms`);
  assert.equal(await again.next('registered', 30_000), 3, 'the restarted broker registered its own id');
  assert.ok(dir.brokers().has(3));
});

test('a value under the brokers prefix that no broker wrote is skipped and reported, at open and when it arrives later', opts, async (t) => {
  const keys = new ClusterKeys('junk');
  await env.client.put(`${keys.brokersPrefix}7`).value('{not json');
  const reported: string[] = [];
  const dir = await BrokerDirectory.open(env.client, keys, (key) => { reported.push(key); });
  t.after(() => dir.close());
  assert.deepEqual(reported, [`${keys.brokersPrefix}7`]);
  const later = new Promise<void>((resolveP) => { const check = setInterval(() => { if (reported.length === 2) { clearInterval(check); resolveP(); } }, 20); });
  await env.client.put(`${keys.brokersPrefix}8`).value('neither');
  await later;
  assert.deepEqual(reported, [`${keys.brokersPrefix}7`, `${keys.brokersPrefix}8`]);
  assert.equal(dir.brokers().size, 0, 'neither counts as a live broker');
});
