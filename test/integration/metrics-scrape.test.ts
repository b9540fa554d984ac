/**
 * GET /metrics on a real broker process: after known produce/fetch traffic the per-topic
 * counters, request counts, partition gauges and connection gauges hold exactly what was
 * sent; `metrics: false` removes the route; a metrics-only port serves /metrics and nothing
 * else; promtool accepts a real scrape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { batchOf, createTopic, fetchFrom, metricValue, produce, recordsIn, waitForMetric, waitForParked } from './broker-helpers.js';
import { parseExposition, valueOf, find } from '../metrics/exposition.js';
import { externalTool } from '../external-tool.js';
import { Api } from '../../src/protocol/api.js';

const values = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

async function scrape(httpUrl: string) {
  const res = await fetch(`${httpUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, e: parseExposition(text) };
}

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('/metrics after produce and fetch: topic counters, requests, partition gauges, connections, fsync', async () => {
  const b = await startBroker();
  try {
    assert.equal((await fetch(`${b.httpUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${b.httpUrl}/healthz`)).status, 200);
    const c = await RawClient.connect(b.url);
    await createTopic(c, 'orders', 2);
    const batches = [batchOf(values(10, 'a')), batchOf(values(10, 'b')), batchOf(values(10, 'c'))];
    for (const batch of batches) assert.equal((await produce(c, 'orders', 0, batch)).partitions[0].error, undefined);
    const p1 = batchOf(values(5, 'd'));
    assert.equal((await produce(c, 'orders', 1, p1, -1)).partitions[0].error, undefined);
    const unknown = await produce(c, 'nope', 0, batchOf(['x']));
    assert.equal(unknown.partitions[0].error.code, 3);
    const fetched = await fetchFrom(c, 'orders', 0, 0);
    const outBytes = (fetched.partitions[0].records as Uint8Array).length;
    assert.ok(outBytes > 0);

    const { e } = await scrape(b.httpUrl);
    const inBytes = batches.reduce((n, x) => n + x.length, 0) + p1.length;
    assert.equal(valueOf(e, 'sluice_messages_in_total', { topic: 'orders' }), 35);
    assert.equal(valueOf(e, 'sluice_bytes_in_total', { topic: 'orders' }), inBytes);
    assert.equal(valueOf(e, 'sluice_messages_out_total', { topic: 'orders' }), 30);
    assert.equal(valueOf(e, 'sluice_bytes_out_total', { topic: 'orders' }), outBytes);
    assert.equal(find(e, 'sluice_messages_in_total', { topic: 'nope' }).length, 0, 'a failed produce counts no messages');

    assert.equal(valueOf(e, 'sluice_requests_total', { api: 'Produce' }), 5);
    assert.equal(valueOf(e, 'sluice_request_duration_seconds_count', { api: 'Produce' }), 5);
    assert.equal(valueOf(e, 'sluice_requests_total', { api: 'Fetch' }), 1);
    assert.equal(valueOf(e, 'sluice_requests_total', { api: 'CreateTopics' }), 1);
    assert.equal(valueOf(e, 'sluice_request_duration_seconds_bucket', { api: 'Fetch', le: '+Inf' }), 1);
    assert.equal(valueOf(e, 'sluice_request_errors_total', { api: 'Produce', error: 'UNKNOWN_TOPIC_OR_PARTITION' }), 1);

    assert.equal(valueOf(e, 'sluice_partition_log_end_offset', { topic: 'orders', partition: '0' }), 30);
    assert.equal(valueOf(e, 'sluice_partition_log_end_offset', { topic: 'orders', partition: '1' }), 5);
    assert.equal(valueOf(e, 'sluice_partition_log_start_offset', { topic: 'orders', partition: '0' }), 0);
    assert.equal(valueOf(e, 'sluice_partition_segments', { topic: 'orders', partition: '0' }), 1);
    assert.ok(valueOf(e, 'sluice_partition_size_bytes', { topic: 'orders', partition: '0' }) >= batches.reduce((n, x) => n + x.length, 0));
    // The acks=-1 produce waited for an fsync, which storage timed.
    assert.ok(valueOf(e, 'sluice_fsync_duration_seconds_count') >= 1);
    assert.ok(valueOf(e, 'sluice_partition_fsyncs_total', { topic: 'orders', partition: '1' }) >= 1);

    assert.equal(valueOf(e, 'sluice_connections'), 1);
    assert.equal(valueOf(e, 'sluice_connections_opened_total'), 1);
    assert.equal(valueOf(e, 'sluice_buffered_bytes'), 0);
    assert.ok(find(e, 'process_cpu_seconds_total').length === 1, 'default process metrics are included');

    // A refused request counts under its api with its error.
    const bad = await c.request({ api: Api.Produce, acks: 7, partitions: [] });
    assert.ok(bad.error);
    c.close();
    await until(async () => valueOf((await scrape(b.httpUrl)).e, 'sluice_connections') === 0);
    const after = (await scrape(b.httpUrl)).e;
    assert.equal(valueOf(after, 'sluice_connections_opened_total'), 1);
    assert.equal(valueOf(after, 'sluice_requests_total', { api: 'Produce' }), 6);

    // A deleted topic's partition series are gone from the next scrape.
    const c2 = await RawClient.connect(b.url);
    await c2.request({ api: Api.DeleteTopics, topics: ['orders'] });
    const gone = (await scrape(b.httpUrl)).e;
    assert.equal(find(gone, 'sluice_partition_log_end_offset', { topic: 'orders' }).length, 0);
    c2.close();
  } finally {
    await b.stop();
  }
});

test('other methods on /metrics get 405 with Allow, on the broker port and on a metrics port; unknown paths stay 404', async () => {
  const b = await startBroker({ args: ['--metrics-port', '0'] });
  try {
    const line = b.logs().split('\n').map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((l) => l.event === 'metrics listening');
    assert.ok(line, 'metrics listening is logged');
    for (const base of [b.httpUrl, `http://127.0.0.1:${line.port}`]) {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const res = await fetch(`${base}/metrics`, { method });
        assert.equal(res.status, 405, `${method} ${base}/metrics`);
        assert.equal(res.headers.get('allow'), 'GET, HEAD', `${method} ${base}/metrics`);
        await res.arrayBuffer();
      }
    }
    assert.equal((await fetch(`${b.httpUrl}/metrics`, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`${b.httpUrl}/nope`, { method: 'POST' })).status, 404);
  } finally {
    await b.stop();
  }
});

test('metrics: false -> /metrics is 404, the broker still serves', async () => {
  const b = await startBroker({ env: { SLUICE_METRICS: 'false' } });
  try {
    assert.equal((await fetch(`${b.httpUrl}/metrics`)).status, 404);
    assert.equal((await fetch(`${b.httpUrl}/readyz`)).status, 200);
    const c = await RawClient.connect(b.url);
    await createTopic(c, 't');
    assert.equal((await produce(c, 't', 0, batchOf(['x']))).partitions[0].baseOffset, 0);
    c.close();
  } finally {
    await b.stop();
  }
});

test('metricsPort serves only /metrics on its own port', async () => {
  const b = await startBroker({ args: ['--metrics-port', '0'] });
  try {
    const line = b.logs().split('\n').map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((l) => l.event === 'metrics listening');
    assert.ok(line, 'metrics listening is logged');
    const url = `http://127.0.0.1:${line.port}`;
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^sluice_connections 0$/m);
    assert.equal((await fetch(`${url}/healthz`)).status, 404);
    assert.equal((await fetch(`${b.httpUrl}/metrics`)).status, 200, 'the broker port keeps /metrics too');
  } finally {
    assert.equal(await b.stop(), 0, 'clean exit with the metrics port open');
  }
});

const promtool = externalTool('promtool');

test('promtool check metrics reports nothing on a real scrape', { skip: promtool.skip }, async () => {
  const b = await startBroker();
  try {
    const c = await RawClient.connect(b.url);
    await createTopic(c, 'p', 2);
    await produce(c, 'p', 0, batchOf(values(3, 'x')), -1);
    await produce(c, 'nope', 0, batchOf(['x']));
    await fetchFrom(c, 'p', 0, 0);
    await fetchFrom(c, 'p', 0, 99);
    const { text } = await scrape(b.httpUrl);
    assert.match(text, /^sluice_request_errors_total\{api="Fetch",error="OFFSET_OUT_OF_RANGE"\} 1$/m);
    const r = spawnSync(promtool.path(), ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.stdout + r.stderr, '', 'promtool found problems');
    assert.equal(r.status, 0);
    c.close();
  } finally {
    await b.stop();
  }
});

test('sluice_delayed_operations counts parked fetches and share acquires until they are answered or their connection closes', async () => {
  const b = await startBroker();
  try {
    const c = await RawClient.connect(b.url);
    await createTopic(c, 'parked');
    const parked = async (kind: string) => metricValue(b.httpUrl, 'sluice_delayed_operations', { kind });
    assert.deepEqual([await parked('fetch'), await parked('share_acquire')], [0, 0], 'both kinds reported from the start');

    const fetching = fetchFrom(c, 'parked', 0, 0, { maxWaitMs: 30_000 });
    await waitForParked(b.httpUrl, 'fetch');
    const acquiring = c.request({ api: Api.ShareAcquire, groupId: 'g-parked', workerId: 'w', topics: ['parked'], maxRecords: 1, maxWaitMs: 30_000 }, 60_000);
    await waitForParked(b.httpUrl, 'share_acquire');
    assert.deepEqual([await parked('fetch'), await parked('share_acquire')], [1, 1]);

    // One append answers both; neither is counted once answered.
    await produce(c, 'parked', 0, batchOf(['job']));
    assert.equal(recordsIn((await fetching).partitions[0].records).length, 1);
    assert.equal((await acquiring).partitions[0].acquired.length, 1);
    assert.deepEqual([await parked('fetch'), await parked('share_acquire')], [0, 0]);

    // A parked fetch whose connection closes is no longer counted.
    const gone = await RawClient.connect(b.url);
    gone.request({ api: Api.Fetch, maxWaitMs: 30_000, minBytes: 1, maxBytes: 1000, partitions: [{ topic: 'parked', partition: 0, offset: 1, maxBytes: 1000 }] }, 60_000)
      .catch(() => {}); // fails with the closed connection
    await waitForParked(b.httpUrl, 'fetch');
    gone.close();
    await waitForMetric(b.httpUrl, 'sluice_delayed_operations', { kind: 'fetch' }, (n) => n === 0);
    c.close();
  } finally {
    await b.stop();
  }
});
