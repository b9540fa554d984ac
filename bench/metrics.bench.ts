/**
 * Per-call cost of the BrokerMetrics hot-path methods, Prometheus vs no-op, plus
 * prom-client's own labelled Counter/Histogram for reference (what families.ts avoids).
 * Run: node --import tsx bench/metrics.bench.ts   (prints median ns/call of 3 runs)
 *
 * The broker calls these once per request or per partition, never per record, so the cost
 * to compare with is that of handling a request (tens of µs), not of a record.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { createBrokerMetrics, LATENCY_BUCKETS, type BrokerMetrics } from '../src/metrics/index.js';

const N = 2_000_000;
const TOPICS = ['orders', 'payments', 'audit', 'clicks', 'logs', 'events', 'users', 'jobs'];
const APIS = ['Produce', 'Fetch'];

function time(fn: (i: number) => void): number {
  for (let i = 0; i < 50_000; i++) fn(i); // warm up, create children
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / N;
}

function median3(fn: (i: number) => void): number {
  const r = [time(fn), time(fn), time(fn)].sort((a, b) => a - b);
  return r[1];
}

function cases(m: BrokerMetrics): Record<string, (i: number) => void> {
  return {
    'produced(topic, n, bytes)': (i) => m.produced(TOPICS[i & 7], 10, 1024),
    'fetched(topic, n, bytes)': (i) => m.fetched(TOPICS[i & 7], 10, 1024),
    'request(api, s)': (i) => m.request(APIS[i & 1], (i & 1023) * 1e-6),
    "request(api, s, 'ERR')": (i) => m.request(APIS[i & 1], (i & 1023) * 1e-6, 'UNKNOWN_TOPIC_OR_PARTITION'),
    'fsync(s)': (i) => m.fsync((i & 1023) * 1e-5),
    'connectionOpened+Closed': () => {
      m.connectionOpened();
      m.connectionClosed();
    },
  };
}

const prom = createBrokerMetrics({ collectDefault: false });
const noop = createBrokerMetrics({ enabled: false });
const promCases = cases(prom);
const noopCases = cases(noop);

console.log(`median of 3 runs x ${N} calls, ns/call`);
console.log('method'.padEnd(30), 'prometheus'.padStart(11), 'no-op'.padStart(8));
for (const name of Object.keys(promCases)) {
  const p = median3(promCases[name]);
  const n = median3(noopCases[name]);
  console.log(name.padEnd(30), p.toFixed(1).padStart(11), n.toFixed(1).padStart(8));
}

// Reference: prom-client's labelled metrics re-hash the label object on every call.
const reg = new Registry();
const c = new Counter({ name: 'ref_total', help: 'h', labelNames: ['topic'], registers: [reg] });
const h = new Histogram({ name: 'ref_seconds', help: 'h', labelNames: ['api'], buckets: [...LATENCY_BUCKETS], registers: [reg] });
const cChildren = TOPICS.map((t) => c.labels(t));
const hChildren = APIS.map((a) => h.labels(a));
console.log('reference: prom-client Counter.labels(t).inc(n) x2', median3((i) => {
  cChildren[i & 7].inc(10);
  cChildren[i & 7].inc(1024);
}).toFixed(1));
console.log('reference: prom-client Histogram.labels(a).observe(s)', median3((i) => hChildren[i & 1].observe((i & 1023) * 1e-6)).toFixed(1));
