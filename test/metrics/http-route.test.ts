import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBrokerMetrics, metricsRoute, serveMetrics, type BrokerMetrics } from '../../src/metrics/index.js';

/** An HTTP server like the broker's: the metrics route first, then its own 404. */
async function serve(m: BrokerMetrics): Promise<{ server: Server; base: string }> {
  const route = metricsRoute(m);
  const server = createServer((req, res) => {
    if (route(req, res)) return;
    res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('GET /metrics route', () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  it('serves the exposition with the Prometheus content type', async () => {
    const m = createBrokerMetrics({ collectDefault: false });
    m.produced('orders', 3, 30);
    const { server, base } = await serve(m);
    servers.push(server);
    for (const path of ['/metrics', '/metrics?name[]=x']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(await res.text(), /^sluice_messages_in_total\{topic="orders"\} 3$/m);
    }
    const head = await fetch(base + '/metrics', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('leaves other paths to the broker and refuses other methods', async () => {
    const { server, base } = await serve(createBrokerMetrics({ collectDefault: false }));
    servers.push(server);
    assert.equal((await fetch(base + '/')).status, 404);
    assert.equal((await fetch(base + '/metricsx')).status, 404);
    const post = await fetch(base + '/metrics', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('declines every request when metrics are off', async () => {
    const { server, base } = await serve(createBrokerMetrics({ enabled: false }));
    servers.push(server);
    assert.equal((await fetch(base + '/metrics')).status, 404);
  });
});

describe('serveMetrics (route-table handler)', () => {
  it('answers GET with the exposition and a 500 (not a crash) when collection fails', async () => {
    const ok = createBrokerMetrics({ collectDefault: false });
    ok.fsync(0.001);
    const failing: BrokerMetrics = Object.assign(createBrokerMetrics({ collectDefault: false }), { metricsText: () => Promise.reject(new Error('boom')) });
    const table = new Map([
      ['/ok', serveMetrics(ok)],
      ['/bad', serveMetrics(failing)],
    ]);
    const server = createServer((req, res) => void table.get(req.url ?? '')!(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const good = await fetch(base + '/ok');
      assert.equal(good.status, 200);
      assert.match(await good.text(), /^sluice_fsync_duration_seconds_count 1$/m);
      const bad = await fetch(base + '/bad');
      assert.equal(bad.status, 500);
      assert.match(await bad.text(), /boom/);
    } finally {
      server.close();
    }
  });
});
