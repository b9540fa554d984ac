/**
 * auth: scram on one broker (docs/security.md), over ws://: the first admin made offline with
 * `sluice user add --data-dir`, logins that succeed and fail, requests refused before a
 * login, a replayed exchange, a login that never finishes, a client posing as a follower,
 * users managed through the broker, and no password in any log line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, Producer } from '../../src/client/index.js';
import { Api } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/errors.js';
import { ScramClient } from '../../src/protocol/scram.js';
import { SluiceError } from '../../src/errors.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { metricValue, waitForMetric } from './broker-helpers.js';
import { waitFor } from './group-helpers.js';
import { runCli } from './security-cli.js';

const ADMIN_PASSWORD = 'admin-Pa55-word';
const BOB_PASSWORD = 'bob-Pa55-word';
const WRONG_PASSWORD = 'not-the-Pa55-word';
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-auth-'));
let broker: BrokerHandle;
const admin = { username: 'admin', password: ADMIN_PASSWORD };

before(async () => {
  const made = await runCli(['user', 'add', 'admin', '--password-stdin', '--data-dir', dataDir], { stdin: `${ADMIN_PASSWORD}\n` });
  assert.equal(made.code, 0, made.stderr);
  broker = await startBroker({
    dataDir, args: ['--auth', 'scram', '--super-users', 'admin', '--auth-timeout-ms', '3000', '--auth-failure-delay-max-ms', '400'],
  });
});
after(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const code = (name: keyof typeof ERRORS) => ERRORS[name].code;
const isCode = (name: keyof typeof ERRORS) => (e: unknown) => e instanceof SluiceError && e.code === name;

async function withAdmin<T>(sasl: { username: string; password: string } | undefined, fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = new Admin({ url: broker.url, reconnectBackoffMs: 50, ...(sasl && { sasl }) });
  try {
    await a.connect();
    return await fn(a);
  } finally {
    await a.close();
  }
}

/** SaslHandshake and the client-first round on a raw connection; returns the server-first. */
async function rawFirst(c: RawClient, first: Buffer): Promise<Buffer> {
  const hs = await c.request({ api: Api.SaslHandshake, mechanism: 'SCRAM-SHA-256' });
  assert.equal(hs.error, undefined);
  const r = await c.request({ api: Api.SaslAuthenticate, authBytes: first });
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  return Buffer.from(r.authBytes as Uint8Array);
}

test('the admin made offline logs in over ws: create, produce and consume work', async () => {
  await withAdmin(admin, (a) => a.createTopic('t-auth', 1));
  const p = new Producer({ url: broker.url, sasl: admin });
  await p.send('t-auth', [{ value: 'hello' }, { value: 'world' }]);
  await p.close();
  const c = new Consumer({ url: broker.url, sasl: admin, autoOffsetReset: 'earliest' });
  try {
    await c.assign([{ topic: 't-auth', partition: 0 }]);
    const got: string[] = [];
    for await (const m of c) {
      got.push(m.value!.toString());
      if (got.length === 2) break;
    }
    assert.deepEqual(got, ['hello', 'world']);
  } finally {
    await c.close();
  }
});

test('without credentials, every request but the login is refused with AUTHENTICATION_REQUIRED, counted, and changes nothing', async () => {
  const before = await metricValue(broker.httpUrl, 'sluice_auth_failures_total', { reason: 'unauthenticated_request' }).catch(() => 0);
  const raw = await RawClient.connect(broker.url);
  try {
    const create = await raw.request({ api: Api.CreateTopics, topics: [{ name: 'sneaky', partitions: 1 }] });
    assert.equal(create.error.code, code('AUTHENTICATION_REQUIRED'));
    assert.match(create.error.message, /sasl/);
    const produce = await raw.request({ api: Api.Produce, acks: 1, partitions: [{ topic: 't-auth', partition: 0, records: Buffer.alloc(0) }] });
    assert.equal(produce.error.code, code('AUTHENTICATION_REQUIRED'));
    const versions = await raw.request({ api: Api.ApiVersions });
    assert.equal(versions.error, undefined); // what a client needs before it logs in
  } finally {
    raw.close();
  }
  await assert.rejects(withAdmin(undefined, (a) => a.listTopics()), isCode('AUTHENTICATION_REQUIRED'));
  await waitForMetric(broker.httpUrl, 'sluice_auth_failures_total', { reason: 'unauthenticated_request' }, (v) => v >= before + 3);
  const topics = await withAdmin(admin, (a) => a.listTopics());
  assert.ok(!topics.some((t) => t.name === 'sneaky'));
});

test('a wrong password is refused with SASL_AUTHENTICATION_FAILED, logged with the user and address but not the password', async () => {
  await assert.rejects(withAdmin({ username: 'admin', password: WRONG_PASSWORD }, (a) => a.listTopics()),
    (e: unknown) => isCode('SASL_AUTHENTICATION_FAILED')(e) && /admin/.test((e as Error).message));
  await assert.rejects(withAdmin({ username: 'nobody', password: WRONG_PASSWORD }, (a) => a.listTopics()), isCode('SASL_AUTHENTICATION_FAILED'));
  await waitForMetric(broker.httpUrl, 'sluice_auth_failures_total', { reason: 'bad_credentials' }, (v) => v >= 2);
  const failed = broker.logs().split('\n').filter((l) => l.includes('auth.failed'));
  assert.ok(failed.some((l) => l.includes('"user":"admin"') && l.includes('127.0.0.1')), failed.join('\n'));
  // Slowed down per address: each failure from 127.0.0.1 waits twice the one before (--auth-failure-delay-max-ms 400 caps it).
  const delays = failed.map((l) => (JSON.parse(l) as { delayMs: number }).delayMs);
  assert.ok(delays.length >= 2 && delays[0] >= 100, delays.join(','));
  for (let i = 1; i < delays.length; i++) assert.equal(delays[i], Math.min(400, delays[i - 1] * 2), delays.join(','));
});

test('a replayed SCRAM exchange fails: the recorded client-final does not fit the new server nonce', async () => {
  const scram = new ScramClient('admin', ADMIN_PASSWORD);
  const first = scram.first();
  const one = await RawClient.connect(broker.url);
  const final = await scram.final(await rawFirst(one, first));
  const ok = await one.request({ api: Api.SaslAuthenticate, authBytes: final });
  assert.equal(ok.error, undefined);
  one.close();

  const two = await RawClient.connect(broker.url);
  await rawFirst(two, first);
  const replayed = await two.request({ api: Api.SaslAuthenticate, authBytes: final });
  assert.equal(replayed.error.code, code('SASL_AUTHENTICATION_FAILED'));
  assert.match(replayed.error.message, /replayed/);
  const closed = await two.closed; // a failed login ends the connection
  assert.equal(closed.code, 1008);
});

test('a connection that does not finish its login within authTimeoutMs is closed (1008), and counted', async () => {
  const raw = await RawClient.connect(broker.url);
  await raw.request({ api: Api.SaslHandshake, mechanism: 'SCRAM-SHA-256' });
  const closed = await Promise.race([raw.closed, new Promise<'open'>((r) => setTimeout(() => r('open'), 60_000))]);
  assert.notEqual(closed, 'open', 'still open 60 s after a 3 s authTimeoutMs');
  assert.equal((closed as { code: number }).code, 1008);
  assert.match((closed as { reason: string }).reason, /authTimeoutMs/);
  await waitForMetric(broker.httpUrl, 'sluice_auth_failures_total', { reason: 'timeout' }, (v) => v >= 1);
});

test('a logged-in client that is not the inter-broker user cannot pose as a follower (replica fetch refused)', async () => {
  const raw = await RawClient.connect(broker.url);
  try {
    const scram = new ScramClient('admin', ADMIN_PASSWORD);
    const ok = await raw.request({ api: Api.SaslAuthenticate, authBytes: await scram.final(await rawFirst(raw, scram.first())) });
    assert.equal(ok.error, undefined);
    const fetch = await raw.request({ api: Api.Fetch, replicaId: 7, maxWaitMs: 0, minBytes: 0, maxBytes: 1024, partitions: [{ topic: 't-auth', partition: 0, offset: 0, maxBytes: 1024 }] });
    assert.equal(fetch.error.code, code('CLUSTER_AUTHORIZATION_FAILED'));
    const plain = await raw.request({ api: Api.Fetch, maxWaitMs: 0, minBytes: 0, maxBytes: 1024, partitions: [{ topic: 't-auth', partition: 0, offset: 0, maxBytes: 1024 }] });
    assert.equal(plain.error, undefined, JSON.stringify(plain.error));
  } finally {
    raw.close();
  }
  await waitForMetric(broker.httpUrl, 'sluice_auth_failures_total', { reason: 'not_a_broker' }, (v) => v >= 1);
});

test('sluice user add|list|delete through the broker: only a super user may, and a deleted user can no longer log in', async () => {
  const asAdmin = { SLUICE_PASSWORD: ADMIN_PASSWORD };
  const add = await runCli(['user', 'add', 'bob', '--password-stdin', '--broker', broker.url, '--user', 'admin'], { stdin: `${BOB_PASSWORD}\n`, env: asAdmin });
  assert.equal(add.code, 0, add.stderr);
  const bob = { username: 'bob', password: BOB_PASSWORD };
  assert.ok(Array.isArray(await withAdmin(bob, (a) => a.listTopics())));
  await assert.rejects(withAdmin(bob, (a) => a.upsertUser('mallory', 'x-password')), isCode('CLUSTER_AUTHORIZATION_FAILED'));
  const list = await runCli(['user', 'list', '--broker', broker.url, '--user', 'admin'], { env: asAdmin });
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(list.stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['admin', 'bob']);
  const noLogin = await runCli(['user', 'list', '--broker', broker.url]);
  assert.notEqual(noLogin.code, 0);
  assert.match(noLogin.stderr, /AUTHENTICATION_REQUIRED/);
  const del = await runCli(['user', 'delete', 'bob', '--broker', broker.url, '--user', 'admin'], { env: asAdmin });
  assert.equal(del.code, 0, del.stderr);
  await assert.rejects(withAdmin(bob, (a) => a.listTopics()), isCode('SASL_AUTHENTICATION_FAILED'));
});

test('no password appears in the broker\'s log', async () => {
  await waitFor('the log is written', () => broker.logs().includes('auth.failed'));
  const logs = broker.logs();
  for (const pw of [ADMIN_PASSWORD, BOB_PASSWORD, WRONG_PASSWORD]) assert.ok(!logs.includes(pw), `the log holds the password ${pw}`);
});

test('a broker listening beyond loopback with auth or TLS off warns at start-up, naming both', async () => {
  const open = await startBroker({ args: ['--host', '0.0.0.0'] });
  try {
    const line = open.logs().split('\n').find((l) => l.includes('security.exposed'));
    assert.ok(line, open.logs());
    assert.match(line, /"auth":"none"/);
    assert.match(line, /"tls":"off"/);
  } finally {
    await open.stop();
  }
  assert.ok(!broker.logs().includes('security.exposed'), 'a loopback broker does not warn');
});
