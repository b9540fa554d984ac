// Liveness of a connection whose other end went silent without closing it (a frozen
// process, a cut network path): TCP keeps such a connection open forever. The broker pings
// its clients and the client pings the broker (--ping-interval-ms, the pingIntervalMs
// client option); a side that hears nothing for a whole interval closes the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { TcpProxy } from '../tcp-proxy.js';
import { Admin, Producer, QueueConsumer, type Job } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';
import { SluiceError } from '../../src/errors.js';

// Longer than a stall of seconds: a broker pinging every 500 ms dropped the connections of
// this test's healthy clients when the test process was frozen for 3 s (scripts/stall-run.mjs
// seed 1401: the worker taking the jobs over lost its connection, its ack failed with
// NETWORK_ERROR), which is right for a client silent for 6 intervals, and not what is tested.
const PING_MS = 5000;
// Locks and sessions far past the bound: without pings nothing would come back before them.
const SETTINGS = { visibilityTimeoutMs: 120_000, sessionTimeoutMs: 120_000, retryBackoffMs: 0, maxDeliveries: 10 };
// Detection takes one to two ping intervals (5-10 s); the rest is room for stalls of seconds.
// Wrong looks like the session timeout (120 s) or the request timeout (60 s, 120 s).
const BOUND_MS = 30_000;

test('the broker closes the connection of a worker behind a silent network path; its jobs go to another worker long before its session ends', async (t) => {
  const broker = await startBroker({ args: ['--ping-interval-ms', String(PING_MS)] });
  t.after(() => broker.stop());
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('live', 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('live', [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
  await p.close();

  const proxy = await TcpProxy.start(broker.port);
  // This worker does not ping (pingIntervalMs 0), so only the broker can notice the silence.
  const stuck = new QueueConsumer({
    url: `ws://127.0.0.1:${proxy.port}`, groupId: 'g-live', topics: 'live', concurrency: 3, maxWaitMs: 300,
    pingIntervalMs: 0, requestTimeoutMs: 120_000, settings: SETTINGS,
  });
  const it = stuck[Symbol.asyncIterator]();
  const held: Job[] = [];
  for (let i = 0; i < 3; i++) held.push((await it.next()).value as Job);
  proxy.hold();
  const cutAt = Date.now();

  const other = new QueueConsumer({ url: broker.url, groupId: 'g-live', topics: 'live', concurrency: 3, maxWaitMs: 300, settings: SETTINGS });
  t.after(() => other.close());
  const again: Job[] = [];
  const it2 = other[Symbol.asyncIterator]();
  let guard: NodeJS.Timeout | undefined;
  const bound = new Promise<null>((r) => { guard = setTimeout(() => r(null), BOUND_MS); });
  while (again.length < 3) {
    const j = await Promise.race([it2.next().then((r) => r.value as Job), bound]);
    if (!j) break;
    again.push(j);
  }
  clearTimeout(guard);
  const tookMs = Date.now() - cutAt;
  await proxy.close();
  await stuck.close();
  assert.deepEqual(again.map((j) => j.offset).sort(), held.map((j) => j.offset).sort(), `jobs back within ${BOUND_MS} ms of the cut: ${again.length}/3`);
  for (const j of again) assert.equal(j.deliveryCount, 2);
  for (const j of again) await j.ack();
  assert.match(broker.logs(), /no answer to ping/);
  console.log(`held jobs back ${tookMs} ms after the path went silent (ping interval ${PING_MS} ms, session ${SETTINGS.sessionTimeoutMs} ms)`);
});

test('a client whose broker is frozen reports the connection lost within the bound, not a timeout', async (t) => {
  const broker = await startBroker();
  t.after(async () => {
    broker.proc.kill('SIGCONT');
    await broker.stop();
  });
  const logged: string[] = [];
  const keep = (_fields: object | string, msg?: unknown) => { logged.push(String(msg)); };
  const logger = { debug: keep, info: keep, warn: keep, error: keep };
  const c = new Connection(broker.url, { pingIntervalMs: PING_MS, requestTimeoutMs: 60_000, logger });
  t.after(() => c.close());
  await c.request(Api.Metadata, {});
  broker.proc.kill('SIGSTOP');
  const frozenAt = Date.now();
  const err = await c.request(Api.Metadata, {}).then(() => null, (e: unknown) => e);
  const tookMs = Date.now() - frozenAt;
  assert.ok(err instanceof SluiceError, `a SluiceError, not ${String(err)}`);
  assert.equal(err.code, 'NETWORK_ERROR', err.message);
  assert.equal(err.retriable, true);
  assert.ok(tookMs < BOUND_MS, `noticed after ${tookMs} ms`);
  assert.ok(logged.some((m) => /no answer .* ping/.test(m)), logged.join('\n'));
  console.log(`frozen broker noticed after ${tookMs} ms (ping interval ${PING_MS} ms)`);
});
