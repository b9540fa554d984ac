// Per-api versions: ApiVersions lists what the broker speaks, a version outside an api's
// range is refused naming the range, and the connection goes on serving the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { API_DEFINITIONS } from '../../src/protocol/api-table.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { Connection } from '../../src/client/connection.js';

let broker: BrokerHandle;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker?.stop();
});

test('ApiVersions lists every api of the table with its version range', async () => {
  const conn = new Connection(broker.url);
  try {
    const apis = await conn.apiVersions();
    const byKey = new Map(apis.map((a) => [a.api, a]));
    assert.equal(apis.length, API_DEFINITIONS.length);
    for (const d of API_DEFINITIONS) {
      assert.deepEqual(byKey.get(d.key), { api: d.key, name: d.name, minVersion: d.minVersion, maxVersion: d.maxVersion }, d.name);
    }
    assert.equal(await conn.apiVersions(), apis, 'asked once per connection');
  } finally {
    await conn.close();
  }
});

test('a version the broker does not speak is UNSUPPORTED_VERSION naming the range; the connection goes on', async () => {
  const c = await RawClient.connect(broker.url);
  try {
    const res = await c.request({ api: Api.Fetch, version: 1, maxWaitMs: 0, minBytes: 0, maxBytes: 1, partitions: [] });
    assert.equal(res.error?.code, ERRORS.UNSUPPORTED_VERSION.code);
    assert.match(res.error?.message, /Fetch \(api 1\) version 1 is not supported; this broker speaks versions 0\.\.0/);
    const md = await c.request({ api: Api.Metadata, version: 0 });
    assert.equal(md.error, undefined);
    assert.equal(typeof md.brokerVersion, 'string');
  } finally {
    c.close();
  }
});
