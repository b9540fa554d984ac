import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { batchOf, produce, readAll } from './broker-helpers.js';
import { runCli } from './cli-process.js';
import { freePort } from '../free-port.js';

test('an ill-typed or unknown setting stops start-up with a message naming it', async () => {
  await assert.rejects(startBroker({ env: { SLUICE_MAX_IN_FLIGHT_PER_CONNECTION: 'lots' } }), /maxInFlightPerConnection.*SLUICE_MAX_IN_FLIGHT_PER_CONNECTION/s);
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-cfg-')), 'broker.json');
  writeFileSync(file, JSON.stringify({ prot: 9400 }));
  await assert.rejects(startBroker({ args: ['--config', file] }), /unknown setting 'prot'/);
});

test('an out-of-range share.* setting stops start-up before listening, naming the flag and its range', async () => {
  await assert.rejects(startBroker({ args: ['--share-retry-backoff-ms', '100000000'] }), (err: Error) => {
    assert.match(err.message, /broker exited \(2\) before ready/);
    assert.match(err.message, /setting 'share\.retryBackoffMs' \(flag --share-retry-backoff-ms\) must be an integer in 0\.\.86400000, got 100000000/);
    assert.doesNotMatch(err.message, /listening/);
    return true;
  });
});

test('settings from a config file and env apply; flags win (the harness passes --port 0)', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-cfg-')), 'broker.json');
  writeFileSync(file, JSON.stringify({ port: 1, logLevel: 'debug' }));
  const b = await startBroker({ args: ['--config', file], env: { SLUICE_AUTO_CREATE_TOPICS: 'true' } });
  assert.notEqual(b.port, 1);
  const c = await RawClient.connect(b.url);
  // env turned autoCreateTopics on: the first produce creates the topic.
  const res = await produce(c, 'auto', 0, batchOf(['hi']));
  assert.equal(res.partitions[0].error, undefined);
  assert.deepEqual(await readAll(c, 'auto', 0), [[0, 'hi']]);
  assert.match(b.logs(), /"event":"topic created","topic":"auto"/);
  // the file set logLevel debug.
  assert.match(b.logs(), /"level":"debug","event":"connection opened"/);
  c.close();
  await b.stop();
});

test('a port already in use stops start-up naming the setting and its flag (--port, --metrics-port)', async () => {
  const first = await startBroker();
  try {
    await assert.rejects(startBroker({ args: ['--metrics-port', String(first.port)] }),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port} \\(setting 'metricsPort', flag --metrics-port\\): listen EADDRINUSE`));
    await assert.rejects(startBroker({ args: ['--port', String(first.port)] }),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port} \\(setting 'port', flag --port\\)`));
  } finally {
    await first.stop();
  }
});

// Cluster mode's start-up errors, through the real `sluice broker` process: each is a coded
// error (src/errors.ts) whose message names the setting, printed without a stack trace.
const NO_STACK = /^\s+at .+:\d+:\d+\)?$/m;

test('an etcd value that is not host:port stops start-up before listening, naming the setting and the bad endpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-badetcd-'));
  for (const [value, named] of [
    ['notaurl', /endpoint "notaurl" is not host:port/],
    ['http://127.0.0.1:2379,http://127.0.0.1:99999', /endpoint "http:\/\/127\.0\.0\.1:99999" is not host:port with a port in 1\.\.65535/],
    [' , ', /names no etcd endpoint/],
  ] as const) {
    const { code, stdout, stderr } = await runCli(undefined, ['broker', '--port', '0', '--data-dir', dir, '--node-id', '1', '--etcd', value]);
    const out = stdout + stderr;
    assert.equal(code, 2, out);
    assert.match(out, /setting 'etcd' \(flag --etcd, env SLUICE_ETCD\)/);
    assert.match(out, named);
    assert.doesNotMatch(out, /"event":"listening"/);
    assert.doesNotMatch(out, NO_STACK);
  }
});

test('an advertisedUrl that is not a ws:// URL stops start-up, naming the setting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-badadv-'));
  const { code, stdout, stderr } = await runCli(undefined, ['broker', '--port', '0', '--data-dir', dir, '--node-id', '1', '--etcd', 'http://127.0.0.1:2379', '--advertised-url', 'http://10.0.0.1:9400']);
  const out = stdout + stderr;
  assert.equal(code, 2, out);
  assert.match(out, /setting 'advertisedUrl' \(flag --advertised-url, env SLUICE_ADVERTISED_URL\) must be a ws:\/\/ or wss:\/\/ URL .*"http:\/\/10\.0\.0\.1:9400"/);
  assert.doesNotMatch(out, NO_STACK);
});

test('etcd unreachable at start stops start-up after a bounded wait with ETCD_UNAVAILABLE (retriable), naming the setting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-noetcd-'));
  const nobody = await freePort();
  const { code, stdout, stderr } = await runCli(undefined, [
    'broker', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir,
    '--node-id', '9', '--etcd', `http://127.0.0.1:${nobody}`, '--etcd-session-ttl-ms', '1000',
  ]);
  const out = stdout + stderr;
  assert.equal(code, 1, out);
  const failed = out.split('\n').filter((l) => l.includes('"event":"start failed"')).map((l) => JSON.parse(l) as { error: { code: string; retriable: boolean; message: string } });
  assert.equal(failed.length, 1, out);
  assert.equal(failed[0]!.error.code, 'ETCD_UNAVAILABLE');
  assert.equal(failed[0]!.error.retriable, true);
  assert.match(failed[0]!.error.message, /cannot reach etcd at http:\/\/127\.0\.0\.1:\d+ \(setting 'etcd', flag --etcd\) within 10000 ms/);
  assert.doesNotMatch(out, NO_STACK);
});
