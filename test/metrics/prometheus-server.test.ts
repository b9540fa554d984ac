/**
 * Proves test/metrics/prometheus-server.ts against a real Prometheus: it scrapes a tiny HTTP
 * server in this process that serves a BrokerMetrics registry through metricsRoute, and we
 * read a rate and a gauge back through Prometheus's HTTP API. The broker end-to-end test
 * uses the same utility with the broker's port as the target.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBrokerMetrics, metricsRoute } from '../../src/metrics/index.js';
import { PrometheusServer } from './prometheus-server.js';
import { externalTool } from '../external-tool.js';
import { dashboardQueries, withoutGrafanaVariables } from './fixtures.js';

const { skip } = externalTool('prometheus');

describe('a real Prometheus scraping a BrokerMetrics registry', { skip }, () => {
  const metrics = createBrokerMetrics({ collectDefault: true });
  let http: Server;
  let prom: PrometheusServer;
  let ticker: NodeJS.Timeout;

  before(async () => {
    // 50 records every 50 ms: 1000 records/s on topic "orders".
    ticker = setInterval(() => metrics.produced('orders', 50, 5000), 50);
    metrics.collectPartitions(() => [
      { topic: 'orders', partition: 0, logStartOffset: 0, logEndOffset: 42, sizeBytes: 4096, segmentCount: 1 },
    ]);
    const route = metricsRoute(metrics);
    http = createServer((req, res) => {
      if (!route(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    prom = await PrometheusServer.start({ targets: [`127.0.0.1:${(http.address() as AddressInfo).port}`], intervalSeconds: 1 });
  });

  after(async () => {
    clearInterval(ticker);
    await prom?.stop();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('scrapes the target successfully', async () => {
    // A scrape may time out (1 s) if this process stalls at that moment (CI has seen 2 s
    // stalls): the target must come up, not be up at the very first scrape.
    const up = await prom.waitFor('up', (r) => r.length === 1 && r[0].value === 1);
    assert.deepEqual(up.map((s) => s.value), [1]);
  });

  it('reads a gauge collected at scrape time', async () => {
    const [s] = await prom.waitFor('sluice_partition_log_end_offset{topic="orders",partition="0"}');
    assert.equal(s.value, 42);
    assert.equal(s.metric.job, 'sluice');
  });

  it('computes a rate from the counter', async () => {
    // rate() divides by the whole 5 s range, so it reads low while the series is younger
    // than the range: wait for a full window of samples before asking.
    // Up to 30 s: a stalled test process fails scrapes (1 s timeout), leaving gaps.
    await prom.waitFor('count_over_time(sluice_messages_in_total{topic="orders"}[5s])', (r) => r.length === 1 && r[0].value >= 5, 30_000);
    const [s] = await prom.waitFor('rate(sluice_messages_in_total{topic="orders"}[5s])', (r) => r.length === 1, 30_000);
    // Timers on a busy 2-core CI box run late, never early: allow a wide band below 1000/s.
    assert.ok(s.value > 300 && s.value < 1300, `rate ${s.value}/s, expected about 1000/s`);
  });

  it('runs every query of the shipped Grafana dashboard', async () => {
    for (const expr of dashboardQueries()) await prom.query(withoutGrafanaVariables(expr));
    // Spot-check that one of them sees data, not only that it parses.
    const [s] = await prom.waitFor(withoutGrafanaVariables('sum by (topic) (rate(sluice_bytes_in_total{instance=~"$instance",topic=~"$topic"}[$__rate_interval]))'));
    assert.ok(s.value > 0);
  });

  it('sees the default Node metrics too', async () => {
    const [s] = await prom.waitFor('nodejs_heap_size_used_bytes');
    assert.ok(s.value > 1e6);
  });
});
