/**
 * Connection limits on a real broker (docs/security.md, "Quotas and limits"): an extra
 * connection past maxConnectionsPerIp or maxConnections is refused with close 1013 and a
 * reason naming the limit (the client's error and the CLI say it) while the open ones are
 * served; connections opened faster than maxConnectionCreationRatePerIp are refused; a
 * connection idle for connectionsMaxIdleMs is closed, one with a long poll or a share worker
 * bound to it is not, and a client whose connection was closed for idling reconnects when
 * next used; a setting out of range stops start-up naming it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Admin, Producer } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';
import { CLOSE_IDLE } from '../../src/protocol/frame-error.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { metricValue, waitForMetric } from './broker-helpers.js';
import { runCli } from './security-cli.js';
import { waitFor } from './group-helpers.js';

const brokers: BrokerHandle[] = [];
const clients: { close(): unknown }[] = [];
after(async () => {
  for (const c of clients) await c.close();
  await Promise.all(brokers.map((b) => b.stop()));
});

async function broker(args: string[]): Promise<BrokerHandle> {
  const b = await startBroker({ args });
  brokers.push(b);
  return b;
}

async function raw(url: string): Promise<RawClient> {
  const c = await RawClient.connect(url);
  clients.push(c);
  return c;
}

/** A request every connection may make, to show it is served. */
async function served(c: RawClient): Promise<void> {
  const res = await c.request({ api: Api.Metadata });
  assert.equal(res.error, undefined);
}

const REFUSED = /the broker at ws:\/\/127\.0\.0\.1:\d+ refused the connection \(close 1013\): /;

let perIp: BrokerHandle;
before(async () => {
  perIp = await broker(['--max-connections-per-ip', '2']);
});

test('maxConnectionsPerIp refuses the extra connection with 1013 and a reason, and serves the others', async () => {
  const a = await raw(perIp.url);
  const b = await raw(perIp.url);
  // The client library's connect fails naming the limit (and does not take the refusal for an open connection).
  const extra = new Connection(perIp.url, { reconnectBackoffMs: 50 });
  await assert.rejects(extra.connect(), (err: Error) => {
    assert.match(err.message, REFUSED);
    assert.match(err.message, /too many connections from 127\.0\.0\.1: 2 at most \(maxConnectionsPerIp\)/);
    return true;
  });
  await extra.close();
  // The CLI prints it.
  const cli = await runCli(['topic', 'list', '--broker', perIp.url]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /^sluice: NETWORK_ERROR: .*refused the connection \(close 1013\): too many connections from 127\.0\.0\.1: 2 at most \(maxConnectionsPerIp\)/m);
  await served(a);
  await served(b);
  assert.equal(await metricValue(perIp.httpUrl, 'sluice_connections_refused_total', { reason: 'max_connections_per_ip' }), 2);
  // A place given back is taken again.
  a.close();
  await waitForMetric(perIp.httpUrl, 'sluice_connections', {}, (v) => v === 1);
  await served(await raw(perIp.url));
});

test('maxConnections refuses past the total, whatever the address', async () => {
  const br = await broker(['--max-connections', '1']);
  const a = await raw(br.url);
  const extra = new Connection(br.url);
  await assert.rejects(extra.connect(), /refused the connection \(close 1013\): too many connections: this broker accepts 1 \(maxConnections\)/);
  await extra.close();
  await served(a);
  assert.equal(await metricValue(br.httpUrl, 'sluice_connections_refused_total', { reason: 'max_connections' }), 1);
});

test('connections opened faster than maxConnectionCreationRatePerIp are refused', async () => {
  const br = await broker(['--max-connection-creation-rate-per-ip', '2']);
  // Ten at once: a bucket of two, refilled at two per second, cannot take them all unless opening them took four seconds.
  const tries = await Promise.allSettled(Array.from({ length: 10 }, () => new Connection(br.url)).map(async (c) => {
    clients.push(c);
    await c.connect();
  }));
  const refused = tries.filter((t) => t.status === 'rejected');
  assert.ok(refused.length >= 1 && refused.length <= 8, `${refused.length} of 10 refused`);
  for (const r of refused) assert.match(String((r as PromiseRejectedResult).reason), /connections from 127\.0\.0\.1 opened faster than 2 per second \(maxConnectionCreationRatePerIp\)/);
  assert.equal(await metricValue(br.httpUrl, 'sluice_connections_refused_total', { reason: 'creation_rate' }), refused.length);
});

test('connectionsMaxIdleMs closes an idle connection, not one with a long poll or a share worker; the client reconnects when next used', async () => {
  const br = await broker(['--connections-max-idle-ms', '1000']);
  const admin = new Admin({ url: br.url });
  clients.push(admin);
  await admin.createTopics([{ name: 'idle', partitions: 1 }]);
  const idle = await raw(br.url);
  const polling = await raw(br.url);
  const worker = await raw(br.url);
  // A share worker: its acquire binds it to the connection (the session lasts until it leaves or the connection closes).
  const acquired = await worker.request({ api: Api.ShareAcquire, groupId: 'g', workerId: 'w1', topics: ['idle'], maxRecords: 1, maxWaitMs: 0 });
  assert.equal(acquired.error, undefined);
  // A long poll three times the idle limit.
  const poll = polling.request({ api: Api.Fetch, maxWaitMs: 3000, minBytes: 1, maxBytes: 1024, partitions: [{ topic: 'idle', partition: 0, offset: 0, maxBytes: 1024 }] });
  assert.deepEqual(await idle.closed, { code: CLOSE_IDLE, reason: 'idle for 1000 ms (connectionsMaxIdleMs)' });
  // The long poll ran its course on its open connection.
  assert.equal((await poll).partitions[0].records.length, 0);
  await served(polling);
  // Idle three times the limit by now, but a worker is bound to it: still served.
  await served(worker);
  assert.ok(await metricValue(br.httpUrl, 'sluice_connections_idle_closed_total') >= 1);
  // The client library takes the idle close as such: no reconnect until it is used again.
  const conn = new Connection(br.url, { reconnectBackoffMs: 10 });
  clients.push(conn);
  await conn.request(Api.Metadata, {});
  await waitFor('the idle close', () => !conn.connected, 30_000);
  assert.equal(conn.reconnecting, false, 'reconnecting at once after an idle close');
  assert.equal((await conn.request(Api.Metadata, {})).error, undefined);
  // A producer whose connection was closed for idling sends again without an error.
  const p = new Producer({ url: br.url, lingerMs: 0 });
  clients.push(p);
  await p.send('idle', { value: 'first' });
  await waitFor('the producer\'s idle close', () => !p.conn.connected, 30_000);
  await p.send('idle', { value: 'after the idle close' });
});

test('connection limit settings out of range stop start-up naming the setting', async () => {
  await assert.rejects(startBroker({ args: ['--max-connections-per-ip', '-1'] }), /setting 'maxConnectionsPerIp' \(flag --max-connections-per-ip\) must be an integer in 0\.\.2147483647, got -1/);
  await assert.rejects(startBroker({ env: { SLUICE_CONNECTIONS_MAX_IDLE_MS: 'soon' } }), /connectionsMaxIdleMs.*SLUICE_CONNECTIONS_MAX_IDLE_MS/s);
});
