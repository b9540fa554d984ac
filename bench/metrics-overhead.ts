/**
 * Produce throughput with metrics on vs off, through the real broker process. Starts two
 * brokers (SLUICE_METRICS=true / false) side by side, each on a temp data dir, warms both up,
 * then alternates runs off, on, off, on, off, on against a fresh topic per run (deleted
 * afterwards). A run pushes TOTAL records of 100 bytes as pre-encoded Produce frames of 1000
 * records (acks 1) over one WebSocket, keeping WINDOW requests in flight. The client does no
 * per-record work, so the broker is the bottleneck. Prints one JSON line, then a table with
 * medians and the on-vs-off difference (negative = metrics cost).
 *
 *   node --import tsx bench/metrics-overhead.ts [records=1000000] [window=16] [perBatch=1000]
 *
 * Smaller batches (e.g. perBatch 10) make per-request costs, metrics included, a larger share.
 */
import WebSocket from 'ws';
import { rmSync } from 'node:fs';
import { startBroker, type BrokerHandle } from '../test/integration/harness.js';
import { encodeFrame, decodeFrame } from '../src/protocol/codec.js';
import { Api } from '../src/protocol/api.js';
import { encodeBatch, type RecordInput } from '../src/record/index.js';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const WINDOW = Number(process.argv[3] ?? 16);
const PER_BATCH = Number(process.argv[4] ?? 1000);
const VALUE = 100;
const RUNS = 3;

function encodeBatches(n: number): Buffer[] {
  const value = Buffer.alloc(VALUE, 0x61);
  const recs: RecordInput[] = Array.from({ length: PER_BATCH }, () => ({ value }));
  return Array.from({ length: n }, (_, i) => encodeBatch(recs, { now: 1_700_000_000_000 + i }));
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** One request/response outside the timed loop (topic admin). */
function call(ws: WebSocket, req: Record<string, unknown>): Promise<Record<string, any>> {
  return new Promise((resolve) => {
    const onMsg = (d: Buffer) => {
      const m = decodeFrame(d);
      if (m.id !== req.id) return;
      ws.off('message', onMsg);
      resolve(m);
    };
    ws.on('message', onMsg);
    ws.send(encodeFrame({ version: 0, ...req }));
  });
}

let topicSeq = 0;

/** Pushes every batch with WINDOW Produce requests in flight; resolves with messages/s. */
async function run(b: BrokerHandle, batches: Buffer[]): Promise<number> {
  const ws = await connect(b.url);
  const topic = `bench-${++topicSeq}`;
  const created = await call(ws, { api: Api.CreateTopics, id: 1, topics: [{ name: topic, partitions: 1 }] });
  if (created.topics[0].error) throw new Error(JSON.stringify(created.topics[0].error));
  // Frames encoded before timing; ids 2.. are unique within this connection.
  const frames = batches.map((records, i) => encodeFrame({ version: 0, id: i + 2, api: Api.Produce, acks: 1, partitions: [{ topic, partition: 0, records }] }));
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    const onMsg = (d: Buffer) => {
      const m = decodeFrame(d);
      const p = (m.partitions as { error?: unknown }[] | undefined)?.[0];
      if (m.error || !p || p.error) return reject(new Error(`produce failed: ${JSON.stringify(m.error ?? p?.error)}`));
      if (++done === frames.length) return resolve();
      if (next < frames.length) ws.send(frames[next++]);
    };
    ws.on('message', onMsg);
    while (next < Math.min(WINDOW, frames.length)) ws.send(frames[next++]);
  });
  const secs = (performance.now() - t0) / 1000;
  ws.removeAllListeners('message');
  await call(ws, { api: Api.DeleteTopics, id: frames.length + 2, topics: [topic] });
  ws.close();
  return (batches.length * PER_BATCH) / secs;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const batches = encodeBatches(TOTAL / PER_BATCH);
  const off = await startBroker({ env: { SLUICE_METRICS: 'false' } });
  const on = await startBroker({ env: { SLUICE_METRICS: 'true' } });
  try {
    const warm = batches.slice(0, Math.max(1, batches.length / 10));
    await run(off, warm);
    await run(on, warm);
    const results = { off: [] as number[], on: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      results.off.push(await run(off, batches));
      results.on.push(await run(on, batches));
    }
    const mOff = median(results.off);
    const mOn = median(results.on);
    const diffPct = ((mOn - mOff) / mOff) * 100;
    const scrape = await (await fetch(`${on.httpUrl}/metrics`)).text();
    const counted = Number(/^sluice_requests_total\{api="Produce"\} (\d+)/m.exec(scrape)?.[1]);
    console.log(JSON.stringify({ bench: 'metrics-overhead', records: TOTAL, recordBytes: VALUE, perBatch: PER_BATCH, window: WINDOW, acks: 1,
      offMsgsPerSec: results.off.map(Math.round), onMsgsPerSec: results.on.map(Math.round), medianOff: Math.round(mOff), medianOn: Math.round(mOn),
      diffPct: Number(diffPct.toFixed(2)), produceRequestsCountedOn: counted }));
    console.log('\n| metrics | run 1 | run 2 | run 3 | median msgs/s |');
    console.log('|---|---|---|---|---|');
    const row = (name: string, xs: number[], m: number) => console.log(`| ${name} | ${xs.map((x) => Math.round(x).toLocaleString('en-US')).join(' | ')} | ${Math.round(m).toLocaleString('en-US')} |`);
    row('off', results.off, mOff);
    row('on', results.on, mOn);
    console.log(`\non vs off: ${diffPct >= 0 ? '+' : ''}${diffPct.toFixed(2)}% (budget: no worse than -3%)`);
  } finally {
    for (const b of [off, on]) {
      await b.stop();
      rmSync(b.dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
