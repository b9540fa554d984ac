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
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
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

/** The broker process's user+system CPU in seconds (Linux /proc, 10 ms ticks); NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

interface RunResult { msgsPerSec: number; cpuUsPer1k: number }

/**
 * Pushes every batch with WINDOW Produce requests in flight; resolves with messages/s and
 * broker CPU per 1000 messages (steadier than wall time on a shared VM).
 */
async function run(b: BrokerHandle, batches: Buffer[]): Promise<RunResult> {
  const ws = await connect(b.url);
  const topic = `bench-${++topicSeq}`;
  const created = await call(ws, { api: Api.CreateTopics, id: 1, topics: [{ name: topic, partitions: 1 }] });
  if (created.topics[0].error) throw new Error(JSON.stringify(created.topics[0].error));
  // Frames encoded before timing; ids 2.. are unique within this connection.
  const frames = batches.map((records, i) => encodeFrame({ version: 0, id: i + 2, api: Api.Produce, acks: 1, partitions: [{ topic, partition: 0, records }] }));
  const cpu0 = cpuSeconds(b.proc.pid);
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
  const cpu = cpuSeconds(b.proc.pid) - cpu0;
  ws.removeAllListeners('message');
  await call(ws, { api: Api.DeleteTopics, id: frames.length + 2, topics: [topic] });
  ws.close();
  // Let the kernel write back this run's dirty pages now rather than during the next run.
  spawnSync('sync');
  await new Promise((r) => setTimeout(r, 300));
  const msgs = batches.length * PER_BATCH;
  return { msgsPerSec: msgs / secs, cpuUsPer1k: (cpu * 1e6) / (msgs / 1000) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const batches = encodeBatches(TOTAL / PER_BATCH);
  const off = await startBroker({ env: { SLUICE_METRICS: 'false' } });
  // BENCH_AA=1 runs metrics off on both sides: the difference it prints is the noise floor.
  const on = await startBroker({ env: { SLUICE_METRICS: process.env.BENCH_AA === '1' ? 'false' : 'true' } });
  try {
    const warm = batches.slice(0, Math.max(1, batches.length / 10));
    await run(off, warm);
    await run(on, warm);
    const results = { off: [] as RunResult[], on: [] as RunResult[] };
    // ABBA order (off on, on off, off on): drift over the session (page cache, disk
    // write-back, CPU clocks) does not always land on the same side.
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const k of order) results[k].push(await run(k === 'off' ? off : on, batches));
    }
    const tput = { off: results.off.map((r) => r.msgsPerSec), on: results.on.map((r) => r.msgsPerSec) };
    const cpu = { off: results.off.map((r) => r.cpuUsPer1k), on: results.on.map((r) => r.cpuUsPer1k) };
    const mOff = median(tput.off);
    const mOn = median(tput.on);
    const diffPct = ((mOn - mOff) / mOff) * 100;
    const cpuOff = median(cpu.off);
    const cpuOn = median(cpu.on);
    const cpuDiffPct = ((cpuOn - cpuOff) / cpuOff) * 100;
    const scrape = await (await fetch(`${on.httpUrl}/metrics`)).text();
    const counted = Number(/^sluice_requests_total\{api="Produce"\} (\d+)/m.exec(scrape)?.[1]);
    console.log(JSON.stringify({ bench: 'metrics-overhead', records: TOTAL, recordBytes: VALUE, perBatch: PER_BATCH, window: WINDOW, acks: 1,
      offMsgsPerSec: tput.off.map(Math.round), onMsgsPerSec: tput.on.map(Math.round), medianOff: Math.round(mOff), medianOn: Math.round(mOn),
      diffPct: Number(diffPct.toFixed(2)), offCpuUsPer1k: cpu.off.map(Math.round), onCpuUsPer1k: cpu.on.map(Math.round),
      cpuDiffPct: Number(cpuDiffPct.toFixed(2)), produceRequestsCountedOn: counted }));
    console.log('\n| metrics | run 1 | run 2 | run 3 | median msgs/s | median broker CPU µs / 1000 msgs |');
    console.log('|---|---|---|---|---|---|');
    const row = (name: string, xs: number[], m: number, c: number) => console.log(`| ${name} | ${xs.map((x) => Math.round(x).toLocaleString('en-US')).join(' | ')} | ${Math.round(m).toLocaleString('en-US')} | ${Math.round(c)} |`);
    row('off', tput.off, mOff, cpuOff);
    row('on', tput.on, mOn, cpuOn);
    console.log(`\nthroughput on vs off: ${diffPct >= 0 ? '+' : ''}${diffPct.toFixed(2)}% (budget: no worse than -3%)`);
    console.log(`broker CPU per message on vs off: ${cpuDiffPct >= 0 ? '+' : ''}${cpuDiffPct.toFixed(2)}%`);
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
