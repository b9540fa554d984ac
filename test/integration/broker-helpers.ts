/** Small helpers shared by the broker integration tests (wire-level, no client library). */
import { encodeBatch, decodeBatches } from '../../src/record/index.js';
import { Api } from '../../src/protocol/api.js';
import { after, before } from 'node:test';
import { RawClient } from './raw-client.js';
import { startBroker, type BrokerHandle, type StartOptions } from './harness.js';
import { waitFor } from './group-helpers.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { Admin, Producer } from '../../src/client/index.js';

/** One broker process and one raw client shared by a test file (read them inside tests). */
export interface FileBroker {
  readonly broker: BrokerHandle;
  readonly client: RawClient;
}

/**
 * Starts one broker and connects one raw client in `before`; closes both in `after`, also
 * when a test failed. Call at the top level of a test file.
 */
export function brokerForFile(opts: StartOptions = {}): FileBroker {
  let broker: BrokerHandle | undefined;
  let client: RawClient | undefined;
  before(async () => {
    broker = await startBroker(opts);
    client = await RawClient.connect(broker.url);
  });
  after(async () => {
    client?.close();
    await broker?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('brokerForFile: the broker starts in before(); read it inside a test');
    return v;
  };
  return {
    get broker() { return started(broker); },
    get client() { return started(client); },
  };
}

export function batchOf(values: string[], timestamp?: number): Buffer {
  return encodeBatch(values.map((v) => ({ value: v, ...(timestamp !== undefined ? { timestamp } : {}) })));
}

/** Decodes fetched bytes into [offset, value] pairs. */
export function recordsIn(bytes: Uint8Array): [number, string][] {
  const out: [number, string][] = [];
  for (const b of decodeBatches(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    for (const r of b.records) out.push([r.offset, r.value?.toString() ?? '']);
  }
  return out;
}

export async function createTopic(c: RawClient, name: string, partitions = 1, config?: Record<string, unknown>) {
  const res = await c.request({ api: Api.CreateTopics, topics: [{ name, partitions, ...(config ? { config } : {}) }] });
  return res.topics[0];
}

export function produce(c: RawClient, topic: string, partition: number, records: Buffer, acks: 0 | 1 | -1 = 1) {
  return c.request({ api: Api.Produce, acks, partitions: [{ topic, partition, records }] });
}

export function fetchFrom(c: RawClient, topic: string, partition: number, offset: number, o: { maxWaitMs?: number; minBytes?: number; maxBytes?: number } = {}) {
  return c.request({
    api: Api.Fetch, maxWaitMs: o.maxWaitMs ?? 0, minBytes: o.minBytes ?? 1, maxBytes: o.maxBytes ?? 1 << 20,
    partitions: [{ topic, partition, offset, maxBytes: o.maxBytes ?? 1 << 20 }],
  }, 30_000);
}

export async function readAll(c: RawClient, topic: string, partition: number, from = 0): Promise<[number, string][]> {
  const out: [number, string][] = [];
  let offset = from;
  for (;;) {
    const res = await fetchFrom(c, topic, partition, offset);
    const p = res.partitions[0];
    if (p.error) throw new Error(`fetch error ${JSON.stringify(p.error)}`);
    const recs = recordsIn(p.records).filter(([o]) => o >= offset);
    if (recs.length === 0) return out;
    out.push(...recs);
    offset = recs[recs.length - 1][0] + 1;
  }
}

/** One sample of the broker's GET /metrics (docs/metrics.md); throws unless exactly one matches. */
export async function metricValue(httpUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${httpUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  return valueOf(parseExposition(await res.text()), name, labels);
}

/**
 * Waits, scraping GET /metrics, until `name{labels}` satisfies `ok`: a test orders itself on
 * a state the broker reports rather than on a sleep. The bound leaves room for CI stalls.
 */
export async function waitForMetric(
  httpUrl: string, name: string, labels: Record<string, string>, ok: (v: number) => boolean, timeoutMs = 30_000,
): Promise<void> {
  let last = NaN;
  await waitFor(`${name}${JSON.stringify(labels)}`, async () => ok((last = await metricValue(httpUrl, name, labels))), timeoutMs, 20)
    .catch((err: Error) => { throw new Error(`${err.message}; last value ${last}`); });
}

/** Waits until at least `n` requests of `kind` are parked in a long poll at the broker (sluice_delayed_operations). */
export function waitForParked(httpUrl: string, kind: 'fetch' | 'share_acquire', n = 1): Promise<void> {
  return waitForMetric(httpUrl, 'sluice_delayed_operations', { kind }, (v) => v >= n);
}

/** A new one-partition topic at `url` holding jobs `job 0` .. `job n-1` (queue tests). */
export async function fillJobs(url: string, topic: string, n: number): Promise<void> {
  const admin = new Admin({ url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url, acks: 'all' });
  await p.send(topic, Array.from({ length: n }, (_, i) => ({ value: `job ${i}` })));
  await p.close();
}
