/**
 * `sluice cluster status` against a secured etcd (docs/security.md, "etcd"): TLS with a client
 * certificate (--client-cert-auth) and etcd's own users, an ops user whose role reads
 * `/sluice/` only. With the broker's etcd flags (or their SLUICE_ETCD_* variables) and the
 * password from SLUICE_ETCD_PASSWORD it reads the cluster; a wrong password, a missing client
 * certificate, an untrusted CA or plaintext to the TLS port each fail with a message naming
 * etcd and the flag to fix, and the password is never printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdTool, startEtcd, type EtcdHandle } from './etcd-process.js';
import { makePki, openssl, type Pki } from '../tls-certs.js';
import { runCli } from '../integration/security-cli.js';

const ROOT_PASSWORD = 'status-root-Pa55-q9';
const OPS_PASSWORD = 'status-ops-Pa55-q9';
const WRONG_PASSWORD = 'status-wrong-Pa55-q9';
const skip = etcdTool.skip || openssl.skip;

let pki: Pki | undefined;
let etcd: EtcdHandle | undefined;
let flags: string[] = [];
let ca: { cert: string; key: string };
let stranger: { cert: string; key: string };
let client: { cert: string; key: string };

before(async () => {
  if (skip) return;
  pki = makePki();
  ca = pki.ca('etcd-ca');
  stranger = pki.ca('stranger');
  const server = pki.leaf('etcd', ca);
  client = pki.leaf('ops-client', ca);
  etcd = await startEtcd(30_000, {
    tls: { certFile: server.cert, keyFile: server.key, caFile: ca.cert, clientCertAuth: true },
    auth: { rootPassword: ROOT_PASSWORD, users: [{ name: 'ops', password: OPS_PASSWORD, prefix: '/sluice/' }] },
  });
  flags = ['--etcd', etcd.url, '--etcd-ca-file', ca.cert, '--etcd-cert-file', client.cert, '--etcd-key-file', client.key, '--etcd-user', 'ops'];
});
after(async () => {
  await etcd?.stop();
  pki?.remove();
});

/** Runs `sluice cluster status` and checks that no password reached its output. */
async function status(args: string[], env: Record<string, string> = {}) {
  const r = await runCli(['cluster', 'status', ...args], { env });
  for (const secret of [ROOT_PASSWORD, OPS_PASSWORD, WRONG_PASSWORD]) assert.ok(!`${r.stdout}${r.stderr}`.includes(secret), 'a password was printed');
  return r;
}

test('with the broker\'s etcd flags and SLUICE_ETCD_PASSWORD, or their environment variables, it reads the cluster', { skip, timeout: 60_000 }, async () => {
  const byFlags = await status(flags, { SLUICE_ETCD_PASSWORD: OPS_PASSWORD });
  assert.equal(byFlags.code, 0, byFlags.stderr);
  assert.match(byFlags.stdout, /controller: none; partitions: 0/);
  const byEnv = await status(['--json'], {
    SLUICE_ETCD: etcd!.url, SLUICE_ETCD_CA_FILE: ca.cert, SLUICE_ETCD_CERT_FILE: client.cert, SLUICE_ETCD_KEY_FILE: client.key,
    SLUICE_ETCD_USER: 'ops', SLUICE_ETCD_PASSWORD: OPS_PASSWORD,
  });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.deepEqual(JSON.parse(byEnv.stdout).brokers, []);
});

test('refused by etcd, it says why and names etcd and the flag: wrong password, no password, no client certificate, untrusted CA, plaintext', { skip, timeout: 120_000 }, async () => {
  const wrong = await status(flags, { SLUICE_ETCD_PASSWORD: WRONG_PASSWORD });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /etcd at https:\/\/\S+ refused the login of user "ops": wrong user or password .*--etcd-user/);
  const noPassword = await status(flags);
  assert.equal(noPassword.code, 1);
  assert.match(noPassword.stderr, /setting 'etcdPassword' \(flag --etcd-password, env SLUICE_ETCD_PASSWORD\) is required with setting 'etcdUser'/);
  const noCert = await status(['--etcd', etcd!.url, '--etcd-ca-file', ca.cert, '--etcd-user', 'ops'], { SLUICE_ETCD_PASSWORD: OPS_PASSWORD });
  assert.equal(noCert.code, 1);
  assert.match(noCert.stderr, /etcd at \S+ refused sluice's client certificate \(none given: set 'etcdCertFile' \(flag --etcd-cert-file\)/);
  const untrusted = await status(['--etcd', etcd!.url, '--etcd-ca-file', stranger.cert, '--etcd-cert-file', client.cert, '--etcd-key-file', client.key, '--etcd-user', 'ops'], { SLUICE_ETCD_PASSWORD: OPS_PASSWORD });
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /etcd's TLS certificate at \S+ does not verify against .*stranger\.crt/);
  const plaintext = await status(['--etcd', etcd!.url.replace('https://', 'http://')]);
  assert.equal(plaintext.code, 1);
  assert.match(plaintext.stderr, /etcd at \S+ serves TLS: give the endpoints as https:\/\//);
});
