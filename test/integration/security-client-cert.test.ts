/**
 * `tls.requireClientCert` (docs/security.md): a broker that requires client certificates
 * refuses a client that presents none, and one whose certificate another CA signed, each
 * with an error saying the broker refused its certificate, and changes nothing for them; a
 * client with a certificate signed by `tls.caFile` is served. The CAs and certificates are
 * made with openssl for this test (test/tls-certs.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Admin } from '../../src/client/index.js';
import { SluiceError } from '../../src/errors.js';
import type { ClientTlsOptions } from '../../src/client/connection.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { makePki, openssl, pem, type Pki } from '../tls-certs.js';

let pki: Pki;
let broker: BrokerHandle;
let wss: string;
let ca: Buffer;
let good: { cert: Buffer; key: Buffer };
let foreign: { cert: Buffer; key: Buffer };

before(async () => {
  if (openssl.skip) return; // the tests say why they skip (only off CI: under CI a missing openssl fails)
  pki = makePki();
  const root = pki.ca('root');
  const served = pki.leaf('broker', root);
  const client = pki.leaf('client', root);
  const other = pki.leaf('intruder', pki.ca('other'));
  ca = pem(root.cert);
  good = { cert: pem(client.cert), key: pem(client.key) };
  foreign = { cert: pem(other.cert), key: pem(other.key) };
  broker = await startBroker({ args: ['--tls-cert', served.cert, '--tls-key', served.key, '--tls-ca', root.cert, '--tls-require-client-cert'] });
  wss = `wss://127.0.0.1:${broker.port}`;
});
after(async () => {
  await broker?.stop();
  pki?.remove();
});

async function withAdmin<T>(tls: ClientTlsOptions, fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = new Admin({ url: wss, tls, connectTimeoutMs: 30_000 });
  try {
    await a.connect();
    return await fn(a);
  } finally {
    await a.close();
  }
}

const networkError = (e: unknown, what: RegExp) => e instanceof SluiceError && e.code === 'NETWORK_ERROR' && what.test(e.message);

test('a client without a certificate is refused, told the broker requires one, and creates nothing', { skip: openssl.skip }, async () => {
  await assert.rejects(withAdmin({ ca }, (a) => a.createTopic('no-cert', 1)), (e: unknown) => networkError(e, /the broker requires a client certificate \(tls.requireClientCert\) and none was given/));
  const topics = await withAdmin({ ca, ...good }, (a) => a.listTopics());
  assert.ok(!topics.some((t) => t.name === 'no-cert'));
});

test('a client whose certificate another CA signed is refused, told so, and creates nothing', { skip: openssl.skip }, async () => {
  await assert.rejects(withAdmin({ ca, ...foreign }, (a) => a.createTopic('foreign-cert', 1)), (e: unknown) => networkError(e, /the broker refused this client's TLS certificate/));
  const topics = await withAdmin({ ca, ...good }, (a) => a.listTopics());
  assert.ok(!topics.some((t) => t.name === 'foreign-cert'));
});

test('a client with a certificate signed by tls.caFile is served', { skip: openssl.skip }, async () => {
  await withAdmin({ ca, ...good }, (a) => a.createTopic('good-cert', 1));
  const topics = await withAdmin({ ca, ...good }, (a) => a.listTopics());
  assert.ok(topics.some((t) => t.name === 'good-cert'));
});

test('no private key (the broker\'s or a client\'s) appears in the broker\'s log', { skip: openssl.skip }, () => {
  assert.ok(!broker.logs().includes('PRIVATE KEY'));
});
