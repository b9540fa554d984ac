/**
 * metricsPort beside TLS (docs/security.md, "TLS"): the client port serves https:// for
 * /metrics, /readyz and /healthz; metricsPort makes its own choice, plain http by default
 * (a scraper on a private network need not hold the broker's CA) or https with the broker's
 * certificate with `tls.metricsPort`, which a SIGHUP renews there too. A scraper that does
 * not trust the CA, or speaks plain http to it, gets no metrics. `tls.metricsPort` without
 * TLS or without metricsPort stops start-up naming the setting.
 * The CA and certificates are made with openssl for this test (test/tls-certs.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { startBroker, type BrokerHandle } from './harness.js';
import { waitFor } from './group-helpers.js';
import { runCli } from './security-cli.js';
import { makePki, openssl, pem, type Pki } from '../tls-certs.js';

let pki: Pki;
let ca: Buffer;
let otherCa: Buffer;
let certFile: string;
let keyFile: string;
let plainSide: BrokerHandle;
let tlsSide: BrokerHandle;

before(async () => {
  if (openssl.skip) return; // the tests say why they skip (only off CI: under CI a missing openssl fails)
  pki = makePki();
  const root = pki.ca('root');
  const served = pki.leaf('broker-1', root);
  // The SIGHUP test writes a renewed certificate over these paths.
  certFile = join(pki.dir, 'served.crt');
  keyFile = join(pki.dir, 'served.key');
  copyFileSync(served.cert, certFile);
  copyFileSync(served.key, keyFile);
  ca = pem(root.cert);
  otherCa = pem(pki.ca('stranger').cert);
  const tlsArgs = ['--tls-cert', certFile, '--tls-key', keyFile, '--metrics-port', '0'];
  [plainSide, tlsSide] = await Promise.all([startBroker({ args: tlsArgs }), startBroker({ args: [...tlsArgs, '--tls-metrics-port'] })]);
});
after(async () => {
  await Promise.all([plainSide?.stop(), tlsSide?.stop()]);
  pki?.remove();
});

/** The metricsPort a broker logged (`metrics listening`), with the URL it logged. */
function metricsListening(b: BrokerHandle): { port: number; url: string } {
  const line = b.logs().split('\n').map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } }).find((l) => l.event === 'metrics listening');
  assert.ok(line, 'metrics listening is logged');
  return { port: line.port as number, url: line.url as string };
}

interface Answer { status: number; body: string }

function getHttp(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function getHttps(url: string, trusted: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca: trusted }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** The serial number of the certificate a new TLS connection to `port` is served. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const serial = s.getPeerCertificate().serialNumber.toUpperCase();
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

const exposition = (a: Answer) => a.status === 200 && /^# (HELP|TYPE) sluice_/m.test(a.body);

test('with TLS on, the client port serves /metrics over https; metricsPort by default serves plain http', { skip: openssl.skip }, async () => {
  assert.ok(exposition(await getHttps(`https://127.0.0.1:${plainSide.port}/metrics`, ca)));
  const m = metricsListening(plainSide);
  assert.equal(m.url, `http://127.0.0.1:${m.port}/metrics`);
  assert.ok(exposition(await getHttp(`http://127.0.0.1:${m.port}/metrics`)));
  // The client port does not answer plain http when TLS is on.
  await assert.rejects(getHttp(`http://127.0.0.1:${plainSide.port}/metrics`));
});

test('with tls.metricsPort, metricsPort serves https with the broker\'s certificate: plain http and an untrusted CA get no metrics', { skip: openssl.skip }, async () => {
  const m = metricsListening(tlsSide);
  assert.equal(m.url, `https://127.0.0.1:${m.port}/metrics`);
  assert.ok(exposition(await getHttps(`https://127.0.0.1:${m.port}/metrics`, ca)));
  await assert.rejects(getHttp(`http://127.0.0.1:${m.port}/metrics`));
  await assert.rejects(getHttps(`https://127.0.0.1:${m.port}/metrics`, otherCa), /self-signed certificate in certificate chain|unable to verify|unable to get local issuer/);
  // Only /metrics there, as without TLS.
  assert.equal((await getHttps(`https://127.0.0.1:${m.port}/readyz`, ca)).status, 404);
});

test('SIGHUP serves a renewed certificate on metricsPort too (tls.metricsPort)', { skip: openssl.skip }, async () => {
  const m = metricsListening(tlsSide);
  const oldSerial = await servedSerial(m.port);
  assert.equal(oldSerial, pki.serial(certFile));
  const renewed = pki.leaf('broker-2', { cert: join(pki.dir, 'root.crt'), key: join(pki.dir, 'root.key') });
  copyFileSync(renewed.key, keyFile);
  copyFileSync(renewed.cert, certFile);
  const newSerial = pki.serial(renewed.cert);
  assert.notEqual(newSerial, oldSerial);
  tlsSide.proc.kill('SIGHUP');
  await waitFor('the broker logs tls.reloaded', () => tlsSide.logs().includes('tls.reloaded'), 30_000);
  assert.equal(await servedSerial(m.port), newSerial);
  assert.equal(await servedSerial(tlsSide.port), newSerial);
  assert.ok(exposition(await getHttps(`https://127.0.0.1:${m.port}/metrics`, ca)));
});

test('tls.metricsPort without TLS, or without metricsPort, stops start-up naming the setting', { skip: openssl.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-metrics-tls-'));
  try {
    for (const [args, named] of [
      [['--metrics-port', '0', '--tls-metrics-port'], /setting 'tls.metricsPort' \(flag --tls-metrics-port, env SLUICE_TLS_METRICS_PORT\) needs TLS on/],
      [['--tls-cert', certFile, '--tls-key', keyFile, '--tls-metrics-port'], /setting 'tls.metricsPort' .* needs setting 'metricsPort'/],
    ] as const) {
      const r = await runCli(['broker', '--port', '0', '--data-dir', dir, ...args]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, named);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no private key appears in either broker\'s log or /metrics', { skip: openssl.skip }, async () => {
  for (const b of [plainSide, tlsSide]) {
    assert.ok(!b.logs().includes('PRIVATE KEY'));
    assert.ok(!(await getHttps(`https://127.0.0.1:${b.port}/metrics`, ca)).body.includes('PRIVATE KEY'));
  }
});
