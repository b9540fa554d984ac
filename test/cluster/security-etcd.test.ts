/**
 * Brokers against a secured etcd (docs/security.md, "etcd"): etcd serves its client port over
 * TLS, requires a client certificate signed by its CA (--client-cert-auth), and has auth on
 * with a broker user whose role has readwrite on `/sluice/` only. Three brokers (auth scram,
 * debug logging) reach it with etcdCaFile, etcdCertFile, etcdKeyFile, etcdUser and the
 * password from SLUICE_ETCD_PASSWORD; they register, replicate acks=all and fail over when the
 * leader is SIGKILLed. Beside them:
 *   - an unknown user gets the same made-up salt from every broker (the secret behind it is
 *     one etcd key), so asking two brokers does not tell whether a user exists;
 *   - no secret (the etcd password, the inter-broker password, users' passwords, a wrong
 *     one) appears in any log line, at debug level, or in /metrics;
 *   - a broker with a wrong etcd password, a CA that did not sign etcd's certificate, or no
 *     client certificate stops at start-up with an error naming etcd and the setting to fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { readFileSync } from 'node:fs';
import { Admin, Consumer, Producer } from '../../src/client/index.js';
import { Api } from '../../src/protocol/api.js';
import { ScramClient } from '../../src/protocol/scram.js';
import { ERRORS, SluiceError } from '../../src/errors.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { readValues, until } from './cluster-helpers.js';
import { makePki, openssl } from '../tls-certs.js';
import { startBroker } from '../integration/harness.js';
import { RawClient } from '../integration/raw-client.js';

const ETCD_ROOT_PASSWORD = 'etcd-root-Pa55-x7';
const ETCD_BROKER_PASSWORD = 'etcd-broker-Pa55-x7';
const BROKER_PASSWORD = 'inter-broker-Pa55-x7';
const ADMIN_PASSWORD = 'admin-Pa55-x7';
const APP_PASSWORD = 'app-Pa55-x7';
const WRONG_PASSWORD = 'wrong-Pa55-x7';
const SECRETS = [ETCD_ROOT_PASSWORD, ETCD_BROKER_PASSWORD, BROKER_PASSWORD, ADMIN_PASSWORD, APP_PASSWORD, WRONG_PASSWORD];

const skip = etcdTool.skip || openssl.skip;
const pki = skip ? undefined : makePki();
const ca = pki?.ca('etcd-ca');
const stranger = pki?.ca('stranger');
const etcdCert = pki && ca ? pki.leaf('etcd', ca) : undefined;
const brokerCert = pki && ca ? pki.leaf('broker-client', ca) : undefined;
const etcdClientFlags = ca && brokerCert ? ['--etcd-ca-file', ca.cert, '--etcd-cert-file', brokerCert.cert, '--etcd-key-file', brokerCert.key, '--etcd-user', 'sluice-broker'] : [];
const brokerLogin = { username: 'broker', password: BROKER_PASSWORD };
const env = brokerClusterForFile({
  brokers: 3,
  ...(ca && etcdCert && {
    etcd: {
      tls: { certFile: etcdCert.cert, keyFile: etcdCert.key, caFile: ca.cert, clientCertAuth: true },
      auth: { rootPassword: ETCD_ROOT_PASSWORD, users: [{ name: 'sluice-broker', password: ETCD_BROKER_PASSWORD, prefix: '/sluice/' }] },
    },
  }),
  args: [
    ...etcdClientFlags, '--log-level', 'debug',
    '--auth', 'scram', '--super-users', 'admin', '--inter-broker-user', 'broker', '--inter-broker-password', BROKER_PASSWORD,
  ],
  env: { SLUICE_ETCD_PASSWORD: ETCD_BROKER_PASSWORD },
  clientOptions: { sasl: brokerLogin },
});

const isCode = (name: keyof typeof ERRORS) => (e: unknown) => e instanceof SluiceError && e.code === name;

test('brokers reach etcd over TLS with a client certificate and etcd\'s own login: they replicate, and fail over on a SIGKILL of the leader', { skip, timeout: 170_000 }, async () => {
  const c = env.cluster;
  assert.match(c.etcd.url, /^https:/);
  // etcd really enforces both: its CA and certificate without a login read nothing ...
  const anonymous = new Etcd3({ hosts: c.etcd.url, credentials: { rootCertificate: readFileSync(ca!.cert), certChain: readFileSync(brokerCert!.cert), privateKey: readFileSync(brokerCert!.key) } });
  try {
    await assert.rejects(anonymous.getAll().prefix('/sluice/').keys(), /user name is empty|permission denied/);
  } finally {
    anonymous.close();
  }
  // ... while the brokers registered under their prefix.
  const asRoot = c.etcd.client();
  try {
    assert.equal((await asRoot.getAll().prefix('/sluice/brokers/').keys()).length, 3);
  } finally {
    asRoot.close();
  }

  const urls = c.brokers.map((b) => b.advertisedUrl);
  const asBroker = new Admin({ brokers: [urls[0]], sasl: brokerLogin });
  await asBroker.upsertUser('admin', ADMIN_PASSWORD, 4096);
  await asBroker.upsertUser('app', APP_PASSWORD, 4096);
  // With auth on, what no ACL allows is refused: the app may do everything on its topic.
  await asBroker.createAcls([{ principal: 'app', resourceType: 'topic', resourceName: 'etcd-secure', patternType: 'literal', operation: 'all', permission: 'allow' }]);
  await asBroker.close();
  const app = { username: 'app', password: APP_PASSWORD };
  const admin = new Admin({ brokers: [urls[2]], sasl: app });
  // Broker 3 applies the ACL once its watch has it (milliseconds).
  await until(() => admin.createTopic('etcd-secure', 1, { minInsyncReplicas: 2 }, { replicationFactor: 3 })
    .then(() => true, (e: unknown) => { if (e instanceof SluiceError && e.code === 'TOPIC_AUTHORIZATION_FAILED') return undefined; throw e; }), 30_000, 'broker 3 to apply the ACL');
  await admin.close();

  const producer = new Producer({ brokers: urls, sasl: app, acks: -1, requestTimeoutMs: 20_000 });
  const values = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ value: `m-${from + i}` }));
  await producer.send('etcd-secure', values(0, 100));
  const md = await c.metadata(undefined, ['etcd-secure']);
  const leader = md.topics[0].partitionInfo?.[0]?.leader;
  assert.ok(typeof leader === 'number' && leader > 0, JSON.stringify(md.topics[0]));
  await c.broker(leader).kill();
  // A new leader is elected through the secured etcd (lease expiry, the controller's transaction).
  await producer.send('etcd-secure', values(100, 100));
  await producer.close();

  const consumer = new Consumer({ brokers: urls.filter((_, i) => i + 1 !== leader), sasl: app, autoOffsetReset: 'earliest' });
  try {
    assert.deepEqual(await readValues(consumer, 'etcd-secure', 200), values(0, 200).map((v) => v.value));
  } finally {
    await consumer.close();
  }
  await c.broker(leader).restart(); // the next tests ask every broker
});

/** The salt a broker's server-first gives `user` (SaslHandshake and the client-first on a raw connection). */
async function saltFor(url: string, user: string): Promise<string> {
  const raw = await RawClient.connect(url);
  try {
    const hs = await raw.request({ api: Api.SaslHandshake, mechanism: 'SCRAM-SHA-256' });
    assert.equal(hs.error, undefined);
    const r = await raw.request({ api: Api.SaslAuthenticate, authBytes: new ScramClient(user, 'whatever-password').first() });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    const salt = /,s=([^,]+),/.exec(Buffer.from(r.authBytes as Uint8Array).toString())?.[1];
    assert.ok(salt !== undefined);
    return salt;
  } finally {
    raw.close();
  }
}

test('an unknown user gets the same made-up salt from every broker, so asking two does not tell that it is missing', { skip, timeout: 60_000 }, async () => {
  const urls = env.cluster.brokers.map((b) => b.url);
  const ghost = await Promise.all(urls.map((u) => saltFor(u, 'ghost-user')));
  assert.equal(new Set(ghost).size, 1, `brokers gave different salts for a missing user: ${ghost.join(' ')}`);
  assert.equal(await saltFor(urls[0], 'ghost-user'), ghost[0]); // and the same on every asking
  assert.notEqual(await saltFor(urls[1], 'another-ghost'), ghost[0]); // per name, as real salts are
  // A real user's salt is the same everywhere too (one credential in etcd): the two look alike.
  const real = await Promise.all(urls.map((u) => saltFor(u, 'app')));
  assert.equal(new Set(real).size, 1);
});

test('no secret appears in any broker\'s log (at debug level) or /metrics: logins good and bad, user add, inter-broker and etcd logins', { skip, timeout: 90_000 }, async () => {
  const c = env.cluster;
  const url = c.brokers[1].url;
  const admin = new Admin({ brokers: [url], sasl: { username: 'admin', password: ADMIN_PASSWORD } });
  try {
    await admin.upsertUser('carol', `carol-${APP_PASSWORD}`, 4096);
    assert.ok(Array.isArray(await admin.listTopics()));
  } finally {
    await admin.close();
  }
  for (const sasl of [{ username: 'app', password: WRONG_PASSWORD }, { username: 'nobody', password: WRONG_PASSWORD }]) {
    const a = new Admin({ brokers: [url], sasl });
    await assert.rejects(a.listTopics(), isCode('SASL_AUTHENTICATION_FAILED'));
    await a.close();
  }
  await until(async () => (c.brokers[1].logs().includes('auth.failed') ? true : undefined), 30_000, 'the failed logins logged');
  for (const b of c.brokers) {
    const logs = b.logs();
    assert.match(logs, /"level":"debug"/, `broker ${b.nodeId} logs at debug level`);
    assert.match(logs, /"event":"auth.login","remote":"[^"]+","user":"broker"/, `broker ${b.nodeId}: the inter-broker login is logged, by name`);
    const metrics = await (await fetch(`${b.httpUrl}/metrics`)).text();
    assert.match(metrics, /sluice_auth_failures_total/);
    for (const secret of [...SECRETS, `carol-${APP_PASSWORD}`]) {
      assert.ok(!logs.includes(secret), `broker ${b.nodeId} logged the secret ${secret}`);
      assert.ok(!metrics.includes(secret), `broker ${b.nodeId}'s /metrics holds the secret ${secret}`);
    }
  }
});

/** The error of the broker's "start failed" log line in `output`. */
function startFailure(output: string): { code: string; message: string } | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('"event":"start failed"')) continue;
    return (JSON.parse(line) as { error: { code: string; message: string } }).error;
  }
  return undefined;
}

test('a broker with a wrong etcd password, an untrusted etcd CA or no client certificate stops at start-up naming etcd and the setting', { skip, timeout: 150_000 }, async () => {
  const etcd = env.cluster.etcd.url;
  const base = ['--node-id', '9', '--etcd', etcd];
  const cases: { what: string; args: string[]; password: string; want: RegExp }[] = [
    { what: 'wrong password', args: [...base, ...etcdClientFlags], password: WRONG_PASSWORD, want: /etcd at https:\/\/[^ ]+ refused the login of user "sluice-broker".*'etcdPassword'/ },
    {
      what: 'untrusted CA', password: ETCD_BROKER_PASSWORD, want: /etcd's TLS certificate at [^ ]+ does not verify against .*stranger\.crt \(setting 'etcdCaFile'/,
      args: [...base, '--etcd-ca-file', stranger!.cert, '--etcd-cert-file', brokerCert!.cert, '--etcd-key-file', brokerCert!.key, '--etcd-user', 'sluice-broker'],
    },
    {
      what: 'no client certificate', password: ETCD_BROKER_PASSWORD, want: /etcd at [^ ]+ refused this broker's client certificate \(none given: set 'etcdCertFile'/,
      args: [...base, '--etcd-ca-file', ca!.cert, '--etcd-user', 'sluice-broker'],
    },
  ];
  for (const k of cases) {
    const err = await startBroker({ args: k.args, env: { SLUICE_ETCD_PASSWORD: k.password }, timeoutMs: 90_000 }).then(
      async (b) => { await b.stop(); return new Error(`${k.what}: the broker started`); },
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /broker exited \(1\) before ready/, `${k.what}: ${err.message}`);
    const failed = startFailure(err.message);
    assert.equal(failed?.code, 'INVALID_CONFIG', `${k.what}: ${err.message}`);
    assert.match(failed.message, k.want, k.what);
    for (const secret of SECRETS) assert.ok(!err.message.includes(secret), `${k.what}: the start-up output shows a secret`);
  }
});
