// Connection against an in-process WebSocket server speaking the frame codec: pipelining,
// out-of-order answers, timeouts, wire errors and reconnect after the server restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame, decodeFrame } from '../../src/protocol/codec.js';
import { Connection } from '../../src/client/connection.js';
import { BrokerError } from '../../src/protocol/errors.js';
import { TcpProxy } from '../tcp-proxy.js';
import { Api, type ApiKey } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A request to the fake servers below, which echo what they like: no api's types apply. */
function raw(c: Connection, api: number, body: object, timeoutMs?: number): Promise<any> {
  return c.request(api as ApiKey, body as never, timeoutMs);
}

async function server(port = 0, onMsg?: (ws: WebSocket, m: any) => void) {
  const wss = new WebSocketServer({ port, host: '127.0.0.1' });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (d: Buffer) => onMsg?.(ws, decodeFrame(d))));
  const addr = wss.address() as { port: number };
  return {
    wss, port: addr.port, url: `ws://127.0.0.1:${addr.port}`,
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

test('pipelined requests are matched by id even when answered out of order', async () => {
  const held: any[] = [];
  const s = await server(0, (ws, m) => {
    held.push([ws, m]);
    if (held.length === 3) for (const [w, x] of held.reverse()) w.send(encodeFrame({ id: x.id, echo: x.n }));
  });
  const c = new Connection(s.url);
  const rs = await Promise.all([1, 2, 3].map((n) => raw(c, 3, { n })));
  assert.deepEqual(rs.map((r) => r.echo), [1, 2, 3]);
  await c.close();
  await s.stop();
});

test('a whole-request wire error becomes a BrokerError with the table name', async () => {
  const s = await server(0, (ws, m) => ws.send(encodeFrame({ id: m.id, error: { code: 3, message: 'no topic x' } })));
  const c = new Connection(s.url);
  await assert.rejects(c.request(3, {}), (e: any) => e instanceof BrokerError && e.code === 'UNKNOWN_TOPIC_OR_PARTITION' && e.retriable);
  await c.close();
  await s.stop();
});

test('a request without answer times out with REQUEST_TIMED_OUT', async () => {
  const s = await server(0, () => {});
  const c = new Connection(s.url, { requestTimeoutMs: 100 });
  await assert.rejects(c.request(3, {}), (e: any) => e.code === 'REQUEST_TIMED_OUT' && e.retriable);
  await c.close();
  await s.stop();
});

test('unreachable broker: NETWORK_ERROR naming the URL', async () => {
  const s = await server();
  const url = s.url;
  await s.stop();
  const c = new Connection(url);
  await assert.rejects(c.connect(), (e: any) => e.code === 'NETWORK_ERROR' && e.message.includes(url));
  await c.close();
});

test('dropped connection fails in-flight requests retriably, then reconnects', async () => {
  let arrived!: () => void;
  const received = new Promise<void>((r) => { arrived = r; });
  let s = await server(0, () => arrived());
  const port = s.port;
  const c = new Connection(s.url, { reconnectBackoffMs: 20, reconnectBackoffMaxMs: 50 });
  await c.connect();
  const inflight = c.request(3, {});
  await received; // the server holds it unanswered when the connection drops
  await s.stop();
  await assert.rejects(inflight, (e: any) => e.code === 'NETWORK_ERROR' && e.retriable === true);
  let reconnected = false;
  c.onReconnect(() => { reconnected = true; });
  s = await server(port, (ws, m) => ws.send(encodeFrame({ id: m.id, ok: true })));
  const r = await raw(c, 3, {}, 5000);
  assert.equal(r.ok, true);
  assert.equal(reconnected, true);
  await c.close();
  await s.stop();
});

test('bootstrap list: the first URL refused, the second answers; none answering names them all', async () => {
  const dead = await server();
  const deadUrl = dead.url;
  await dead.stop();
  const s = await server(0, (ws, m) => ws.send(encodeFrame({ id: m.id, from: 'second' })));
  const c = new Connection([deadUrl, s.url]);
  assert.equal((await raw(c, 3, {})).from, 'second');
  assert.equal(c.url, s.url);
  await c.close();
  const url2 = s.url;
  await s.stop();
  const none = new Connection([deadUrl, url2]);
  await assert.rejects(none.connect(), (e: any) => e.code === 'NETWORK_ERROR' && e.message.includes(deadUrl) && e.message.includes(url2));
  await none.close();
});

test('bootstrap list: after a drop the connection goes on with the next live URL', async () => {
  const a = await server(0, (ws, m) => ws.send(encodeFrame({ id: m.id, from: 'a' })));
  const b = await server(0, (ws, m) => ws.send(encodeFrame({ id: m.id, from: 'b' })));
  const c = new Connection([a.url, b.url], { reconnectBackoffMs: 20, reconnectBackoffMaxMs: 20 });
  assert.equal((await raw(c, 3, {})).from, 'a');
  const back = new Promise<void>((r) => c.onReconnect(r));
  await a.stop();
  await back;
  assert.equal(c.url, b.url);
  assert.equal((await raw(c, 3, {}, 5000)).from, 'b');
  await c.close();
  await b.stop();
});

test('close() rejects what is in flight with CLIENT_CLOSED', async () => {
  const s = await server(0, () => {});
  const c = new Connection(s.url);
  await c.connect();
  const p = assert.rejects(c.request(3, {}), (e: any) => e.code === 'CLIENT_CLOSED');
  await c.close();
  await p;
  await assert.rejects(c.request(3, {}), (e: any) => e.code === 'CLIENT_CLOSED');
  await s.stop();
});

test('unsolicited id-0 push frames go to onPush listeners and never settle a request', async () => {
  const s = await server(0, (ws, m) => {
    ws.send(encodeFrame({ id: 0, push: 'group', groupId: 'g' }));
    ws.send(encodeFrame({ id: 0, push: 'some-future-kind', x: 1 }));
    ws.send(encodeFrame({ id: 0, nopush: true })); // not a push: ignored
    ws.send(encodeFrame({ id: m.id, ok: true }));
  });
  const c = new Connection(s.url);
  const pushes: any[] = [];
  const off = c.onPush((msg) => pushes.push(msg));
  const r = await raw(c, 3, {});
  assert.equal(r.ok, true);
  assert.deepEqual(pushes.map((p) => p.push), ['group', 'some-future-kind']);
  assert.equal(pushes[0].groupId, 'g');
  off();
  await raw(c, 3, {});
  assert.equal(pushes.length, 2);
  await c.close();
  await s.stop();
});

test('an answer that reached the socket during a stall past the timeout still resolves the request', async () => {
  const s = await server(0, (ws, m) => ws.send(encodeFrame({ id: m.id, ok: true })));
  // The answer is held in a proxy (as if in the client's kernel buffer) until released.
  const proxy = await TcpProxy.start(s.port);
  const c = new Connection(`ws://127.0.0.1:${proxy.port}`);
  await c.connect();
  proxy.hold('toClient');
  const res = raw(c, 3, {}, 200);
  await proxy.whenKept('toClient');
  // A 300 ms stall; when the loop next runs timers, the 200 ms timeout fires first and the
  // answer is delivered right after it, in the same turn of the loop, as an answer that sat
  // in the kernel during a stall is read in the poll phase right after the timers. (The
  // proxy writes the answer to the client's socket synchronously on release.)
  setTimeout(() => { const end = Date.now() + 300; while (Date.now() < end) { /* stalled */ } }, 0);
  setTimeout(() => proxy.release(), 250);
  assert.equal((await res).ok, true);
  await c.close();
  await proxy.close();
  await s.stop();
});

test('an answer with throttleTimeMs holds the next request back until it passed (quotas); the client id rides on the upgrade', async () => {
  const arrivals: number[] = [];
  const s = await server(0, (ws, m) => {
    arrivals.push(Date.now());
    ws.send(encodeFrame({ id: m.id, ...(arrivals.length === 1 && { throttleTimeMs: 400 }) }));
  });
  const headers: (string | string[] | undefined)[] = [];
  s.wss.on('connection', (_ws, req) => headers.push(req.headers['sluice-client-id']));
  const c = new Connection(s.url, { clientId: 'billing' });
  await raw(c, 0, {});
  await raw(c, 0, {});
  assert.ok(arrivals[1] - arrivals[0] >= 395, `the second request arrived ${arrivals[1] - arrivals[0]} ms after the first was throttled for 400 ms`);
  assert.deepEqual(headers, ['billing']);
  // close() ends a wait for a throttle at once.
  const pushed = new Promise<void>((r) => c.onPush(() => r()));
  s.wss.clients.forEach((ws) => ws.send(encodeFrame({ id: 0, push: 'x', throttleTimeMs: 60_000 })));
  await pushed;
  const waiting = assert.rejects(raw(c, 0, {}), (e: any) => e.code === 'CLIENT_CLOSED');
  const t0 = Date.now();
  await c.close();
  await waiting;
  assert.ok(Date.now() - t0 < 5000);
  await s.stop();
});

// --- one deadline per request, from the moment it is asked -------------------------------

/** A broker that accepts the WebSocket, then stops reading it: the client's writes back up. */
async function deafServer() {
  const s = await server();
  const frames: any[] = [];
  const sockets: Socket[] = [];
  s.wss.on('connection', (ws, req) => {
    req.socket.pause();
    sockets.push(req.socket);
    ws.on('message', (d: Buffer) => frames.push(decodeFrame(d)));
  });
  return { ...s, frames, listen: () => { for (const so of sockets) so.resume(); } };
}

/** A Produce of one batch large enough to fill the kernel's socket buffers on loopback. */
function bigProduce(producerId: number) {
  const records = encodeBatch([{ value: Buffer.alloc(48 * 1024 * 1024, 1) }], { producerId, producerEpoch: 0, baseSequence: 0 });
  return { acks: 1 as const, partitions: [{ topic: 't', partition: 0, records }] };
}

/** How `p` settled and after how long; 'hung' when it did not within `boundMs`. */
async function settleWithin(p: Promise<unknown>, boundMs: number): Promise<{ outcome: 'resolved' | 'rejected' | 'hung'; err?: any; ms: number }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hung'>((r) => { timer = setTimeout(() => r('hung'), boundMs); });
  try {
    const r = await Promise.race([p.then(() => 'resolved' as const, (err: unknown) => ({ err })), bound]);
    if (r === 'hung' || r === 'resolved') return { outcome: r, ms: performance.now() - t0 };
    return { outcome: 'rejected', err: r.err, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

const DEADLINE_MS = 400;
/** Far above DEADLINE_MS plus a multi-second CI stall; without the deadline these waits never end. */
const HUNG_MS = 8_000;

test('a request behind a socket the broker stopped reading fails at its deadline; a non-idempotent produce left unwritten is never sent', async () => {
  const s = await deafServer();
  const c = new Connection(s.url, { maxBufferedBytes: 1024, pingIntervalMs: 0 });
  try {
    await c.connect();
    const produce = c.request(Api.Produce, bigProduce(-1), DEADLINE_MS);
    await new Promise((r) => setImmediate(r)); // its frame is in the socket's buffer now
    // Waits for the socket to drain, which it never does: before the deadline this waited for good.
    const metadata = settleWithin(raw(c, Api.Metadata, {}, DEADLINE_MS), HUNG_MS);
    const [p, m] = await Promise.all([settleWithin(produce, HUNG_MS), metadata]);
    assert.equal(m.outcome, 'rejected', `the Metadata request behind the full socket ${m.outcome} after ${Math.round(m.ms)} ms`);
    assert.ok(['REQUEST_TIMED_OUT', 'NETWORK_ERROR'].includes(m.err.code) && m.err.retriable, m.err.message);
    assert.equal(p.outcome, 'rejected');
    assert.equal(p.err.code, 'REQUEST_TIMED_OUT');
    assert.equal(p.err.retriable, true);
    assert.equal(p.err.sent, false, p.err.message);
    assert.equal(c.inFlight, 0);
    // The produce's frame sat in the socket's buffer at its deadline: the connection was
    // dropped so that it never reaches the broker once the broker reads again.
    const closed = new Promise<void>((r) => s.wss.clients.forEach((ws) => ws.once('close', () => r())));
    s.listen();
    await closed;
    assert.deepEqual(s.frames.map((f) => f.api), []);
  } finally {
    await c.close();
    await s.stop();
  }
});

test('an idempotent produce still unwritten at its deadline fails but keeps the connection: the broker may take it late (it drops a duplicate by sequence)', async () => {
  const s = await deafServer();
  const c = new Connection(s.url, { maxBufferedBytes: 1024, pingIntervalMs: 0 });
  try {
    await c.connect();
    const p = await settleWithin(c.request(Api.Produce, bigProduce(7), DEADLINE_MS), HUNG_MS);
    assert.equal(p.outcome, 'rejected');
    assert.equal(p.err.code, 'REQUEST_TIMED_OUT');
    assert.equal(p.err.sent, true);
    assert.equal(c.connected, true);
    const arrived = new Promise<void>((r) => s.wss.clients.forEach((ws) => ws.once('message', () => r())));
    s.listen();
    await arrived;
    assert.deepEqual(s.frames.map((f) => f.api), [Api.Produce]);
  } finally {
    await c.close();
    await s.stop();
  }
});

test('a broker that takes the TCP connection but never answers the upgrade: the request fails at its deadline, not the connect timeout', async () => {
  const silentSockets: Socket[] = [];
  const silent: Server = createServer((so) => { silentSockets.push(so); }); // accepts, never answers
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const c = new Connection(url, { connectTimeoutMs: 60_000 });
  try {
    const r = await settleWithin(raw(c, Api.Metadata, {}, DEADLINE_MS), HUNG_MS);
    assert.equal(r.outcome, 'rejected', `${r.outcome} after ${Math.round(r.ms)} ms`);
    assert.equal(r.err.code, 'NETWORK_ERROR');
    assert.match(r.err.message, /not connected .* within the Metadata request's 400 ms .*not sent/);
    assert.equal(c.inFlight, 0);
  } finally {
    await c.close();
    for (const so of silentSockets) so.destroy();
    silent.close();
  }
});

test('a request held back by a long throttle fails at its deadline, never sent', async () => {
  const s = await server(0, (ws, m) => ws.send(encodeFrame({ id: m.id, throttleTimeMs: 60_000 })));
  const c = new Connection(s.url);
  try {
    await raw(c, Api.Metadata, {}); // its answer throttles the client for a minute
    const r = await settleWithin(raw(c, Api.Metadata, {}, DEADLINE_MS), HUNG_MS);
    assert.equal(r.outcome, 'rejected', `${r.outcome} after ${Math.round(r.ms)} ms`);
    assert.equal(r.err.code, 'REQUEST_TIMED_OUT');
    assert.equal(r.err.sent, false);
  } finally {
    await c.close();
    await s.stop();
  }
});

test('a request that gave up waiting for a reconnect is not sent once the connection is back', async () => {
  let s = await server(0, () => {});
  const port = s.port;
  const c = new Connection(s.url, { reconnectBackoffMs: 20, reconnectBackoffMaxMs: 50 });
  try {
    await c.connect();
    await s.stop();
    while (!c.reconnecting) await new Promise((r) => setImmediate(r));
    const r = await settleWithin(c.request(Api.Produce, { acks: 1, partitions: [] }, DEADLINE_MS), HUNG_MS);
    assert.equal(r.outcome, 'rejected');
    assert.equal(r.err.code, 'NETWORK_ERROR');
    assert.match(r.err.message, /not sent/);
    const got: number[] = [];
    s = await server(port, (ws, m) => { got.push(m.api); ws.send(encodeFrame({ id: m.id })); });
    const back = new Promise<void>((resolve) => c.onReconnect(resolve));
    await back;
    await raw(c, Api.Metadata, {}, 5000);
    assert.deepEqual(got, [Api.Metadata], 'only the request made after the reconnect reached the broker');
  } finally {
    await c.close();
    await s.stop();
  }
});
