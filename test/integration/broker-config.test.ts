import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { batchOf, produce, readAll } from './broker-helpers.js';

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
