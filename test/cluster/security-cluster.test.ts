/**
 * A 3-broker cluster with TLS and auth scram on (docs/security.md): brokers dial each other
 * over wss:// and log in as the inter-broker user, so replica fetches (acks=all with
 * minInsyncReplicas 2 needs them) and forwarded topic changes work; users live in etcd, so a
 * user added through one broker logs in at all of them, and ACLs live in etcd too, so an ACL
 * added or removed through one broker is enforced by another; the leader is SIGKILLed and the
 * producer goes on at the new leader without losing an acknowledged message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admin, Consumer, Producer } from '../../src/client/index.js';
import { SluiceError } from '../../src/errors.js';
import type { AclBinding } from '../../src/client/index.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { readValues, until } from './cluster-helpers.js';
import { makePki, openssl, pem } from '../tls-certs.js';

const BROKER_PASSWORD = 'inter-broker-Pa55';
const APP_PASSWORD = 'app-Pa55';
const skip = etcdTool.skip || openssl.skip;
const pki = skip ? undefined : makePki();
const root = pki?.ca('root');
const leaf = pki && root ? pki.leaf('brokers', root) : undefined;
const ca = root ? pem(root.cert) : Buffer.alloc(0);
const brokerLogin = { username: 'broker', password: BROKER_PASSWORD };
const isCode = (name: string) => (e: unknown): boolean => e instanceof SluiceError && e.code === name;
const env = brokerClusterForFile({
  brokers: 3,
  args: leaf && root ? [
    '--tls-cert', leaf.cert, '--tls-key', leaf.key, '--tls-ca', root.cert,
    '--auth', 'scram', '--super-users', 'admin', '--inter-broker-user', 'broker', '--inter-broker-password', BROKER_PASSWORD,
  ] : [],
  advertisedUrlFor: (_id, port) => `wss://127.0.0.1:${port}`,
  clientOptions: { tls: { ca }, sasl: brokerLogin },
});

test('3 brokers with TLS and SCRAM replicate over authenticated links and fail over on a SIGKILL of the leader', { skip, timeout: 170_000 }, async (t) => {
  t.after(() => pki?.remove());
  const urls = env.cluster.brokers.map((b) => b.advertisedUrl);
  // Users live in etcd: the inter-broker user (made by the first broker) adds one through broker 1 ...
  const asBroker = new Admin({ brokers: [urls[0]], tls: { ca }, sasl: brokerLogin });
  await asBroker.upsertUser('app', APP_PASSWORD, 4096);
  await asBroker.close();
  const app = { username: 'app', password: APP_PASSWORD };
  // ... and it logs in at broker 3, where it may not create a topic: no ACL allows it yet.
  const admin = new Admin({ brokers: [urls[2]], tls: { ca }, sasl: app });
  const create = () => admin.createTopic('secure', 1, { minInsyncReplicas: 2 }, { replicationFactor: 3 });
  await assert.rejects(create(), isCode('TOPIC_AUTHORIZATION_FAILED'));
  // ACLs live in etcd: granted through broker 1, broker 3 enforces them once its watch has them;
  // it then forwards the topic creation to the controller over its link.
  const grants = (['create', 'write', 'read'] as const).map((operation): AclBinding => ({ principal: 'app', resourceType: 'topic', resourceName: 'secure', patternType: 'literal', operation, permission: 'allow' }));
  const asBroker1 = new Admin({ brokers: [urls[0]], tls: { ca }, sasl: brokerLogin });
  await asBroker1.createAcls(grants);
  await until(() => create().then(() => true, (e: unknown) => { if (isCode('TOPIC_AUTHORIZATION_FAILED')(e)) return undefined; throw e; }), 30_000, 'broker 3 to apply the ACL added through broker 1');
  await asBroker1.close();
  await admin.close();
  // Plaintext is refused by every broker.
  await assert.rejects(new Admin({ brokers: [urls[1].replace('wss:', 'ws:')], sasl: app, connectTimeoutMs: 30_000 }).listTopics(), (e: unknown) => e instanceof SluiceError && e.code === 'NETWORK_ERROR');

  const producer = new Producer({ brokers: urls, tls: { ca }, sasl: app, acks: -1, requestTimeoutMs: 20_000 });
  const values = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ value: `m-${from + i}` }));
  await producer.send('secure', values(0, 100)); // acks=all, minInsyncReplicas 2: followers fetched over their links
  const md = await env.cluster.metadata(undefined, ['secure']);
  const leader = md.topics[0].partitionInfo?.[0]?.leader;
  assert.ok(typeof leader === 'number' && leader > 0, JSON.stringify(md.topics[0]));
  await env.cluster.broker(leader).kill();
  await producer.send('secure', values(100, 100));
  await producer.close();

  const survivors = urls.filter((_, i) => i + 1 !== leader);
  const consumer = new Consumer({ brokers: survivors, tls: { ca }, sasl: app, autoOffsetReset: 'earliest' });
  try {
    assert.deepEqual(await readValues(consumer, 'secure', 200), values(0, 200).map((v) => v.value));
  } finally {
    await consumer.close();
  }
  // Removed through one survivor: the other (whose Metadata answers a client's listTopics) no
  // longer shows the topic to the app once its watch has the removal.
  const remover = new Admin({ brokers: [survivors[0]], tls: { ca }, sasl: brokerLogin });
  await remover.deleteAcls(grants);
  await remover.close();
  const lister = new Admin({ brokers: [survivors[1]], tls: { ca }, sasl: app });
  try {
    await until(async () => ((await lister.listTopics()).some((t) => t.name === 'secure') ? undefined : true), 30_000, 'the ACLs removed through one broker to be enforced by another');
  } finally {
    await lister.close();
  }
  for (const b of env.cluster.brokers) {
    assert.ok(!b.logs().includes(BROKER_PASSWORD) && !b.logs().includes(APP_PASSWORD), `broker ${b.nodeId} logged a password`);
    assert.ok(!b.logs().includes('auth.failed'), `broker ${b.nodeId} refused a login:\n${b.logs().split('\n').filter((l) => l.includes('auth.')).join('\n')}`);
  }
});
