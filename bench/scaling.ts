/**
 * Scaling curves (acks=1, one producer process, one consumer process, one broker):
 *   produce and replay msgs/s for value sizes 10 B, 100 B, 1 KB, 10 KB (1 partition), and
 *   for 1, 4, 16 partitions (100 B); e2e latency percentiles at 10 k and 100 k msgs/s.
 *   node --import tsx bench/scaling.ts          # RUNS=3 (medians), SCALE=1 (multiplies N)
 * Each point runs on a fresh broker with a temp data dir. N shrinks with the size so the
 * whole run stays at a few minutes (~100 MB or fewer per point).
 * Writes bench/results/scaling.json and scaling-size.svg, scaling-partitions.svg, e2e-latency.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, benchCli, median, startBroker } from './broker-process.js';
import { barChart, lineChart } from './svg-chart.js';
import { machine, versions } from '../src/cli/bench/report.js';

const RUNS = Number(process.env.RUNS ?? 3);
const SCALE = Number(process.env.SCALE ?? 1);
const OUT = join(ROOT, 'bench/results');
const SIZES: [number, number][] = [[10, 1_000_000], [100, 1_000_000], [1000, 200_000], [10_000, 30_000]];
const PARTS = [1, 4, 16];
const RATES: [number, number][] = [[10_000, 60_000], [100_000, 600_000]];

async function throughput(size: number, n: number, partitions: number): Promise<{ produce: number; replay: number }> {
  const b = await startBroker();
  try {
    const p = await benchCli(['produce', '-b', b.url, '-t', 's', '-n', String(n), '-s', String(size), '-p', String(partitions)]);
    const c = await benchCli(['consume', '-b', b.url, '-t', 's']);
    return { produce: p.msgsPerSec, replay: c.msgsPerSec };
  } finally {
    await b.stop();
  }
}

async function e2e(rate: number, n: number): Promise<Record<string, number>> {
  const b = await startBroker();
  try {
    const r = await benchCli(['e2e', '-b', b.url, '-n', String(n), '--rate', String(rate), '-s', '100']);
    return { ...r.latencyMs, achieved: r.msgsPerSec };
  } finally {
    await b.stop();
  }
}

const med = (xs: { produce: number; replay: number }[]) => ({
  produce: median(xs.map((x) => x.produce)), replay: median(xs.map((x) => x.replay)),
  produce_runs: xs.map((x) => x.produce), replay_runs: xs.map((x) => x.replay),
});
const bySize: Record<number, ReturnType<typeof med>> = {};
const byParts: Record<number, ReturnType<typeof med>> = {};
const latency: Record<number, Record<string, number>> = {};
const raw = { size: {} as Record<number, any[]>, parts: {} as Record<number, any[]>, e2e: {} as Record<number, any[]> };
for (let r = 1; r <= RUNS; r++) {
  for (const [size, n] of SIZES) {
    (raw.size[size] ??= []).push(await throughput(size, Math.round(n * SCALE), 1));
    process.stderr.write(`size ${size} run ${r}: ${JSON.stringify(raw.size[size].at(-1))}\n`);
  }
  for (const p of PARTS) {
    if (p === 1) continue; // the 100 B point above
    (raw.parts[p] ??= []).push(await throughput(100, Math.round(1_000_000 * SCALE), p));
    process.stderr.write(`partitions ${p} run ${r}: ${JSON.stringify(raw.parts[p].at(-1))}\n`);
  }
  for (const [rate, n] of RATES) {
    (raw.e2e[rate] ??= []).push(await e2e(rate, Math.round(n * SCALE)));
    process.stderr.write(`e2e ${rate}/s run ${r}: ${JSON.stringify(raw.e2e[rate].at(-1))}\n`);
  }
}
for (const [size] of SIZES) bySize[size] = med(raw.size[size]);
raw.parts[1] = raw.size[100];
for (const p of PARTS) byParts[p] = med(raw.parts[p]);
for (const [rate] of RATES) {
  const keys = Object.keys(raw.e2e[rate][0]);
  latency[rate] = Object.fromEntries(keys.map((k) => [k, median(raw.e2e[rate].map((x) => x[k]))]));
}

mkdirSync(OUT, { recursive: true });
const result = { date: new Date().toISOString(), machine: machine(), versions: versions(), runs: RUNS, acks: 1, bySize, byPartitions: byParts, e2eLatencyMs: latency, raw };
writeFileSync(join(OUT, 'scaling.json'), JSON.stringify(result, null, 2) + '\n');
const sizeLabel = (x: number) => (x >= 1000 ? `${x / 1000} KB` : `${x} B`);
writeFileSync(join(OUT, 'scaling-size.svg'), lineChart('msgs/s by value size (1 partition, acks=1)', [
  { label: 'produce', points: SIZES.map(([s]) => [s, bySize[s].produce]) },
  { label: 'replay', points: SIZES.map(([s]) => [s, bySize[s].replay]) },
], { xTitle: 'value size', yTitle: 'msgs/s', logX: true, xLabel: sizeLabel }));
writeFileSync(join(OUT, 'scaling-partitions.svg'), lineChart('msgs/s by partition count (100 B, acks=1)', [
  { label: 'produce', points: PARTS.map((p) => [p, byParts[p].produce]) },
  { label: 'replay', points: PARTS.map((p) => [p, byParts[p].replay]) },
], { xTitle: 'partitions', yTitle: 'msgs/s', logX: true }));
const pct = ['p50', 'p90', 'p99', 'p99.9', 'max'];
writeFileSync(join(OUT, 'e2e-latency.svg'), barChart('end-to-end latency (ms), 100 B, acks=1, 1 partition',
  RATES.map(([r]) => `${r / 1000} k msgs/s`), pct.map((k) => ({ label: k, values: RATES.map(([r]) => latency[r][k]) })),
  'milliseconds from scheduled send to consumer handler (lower is better)'));
process.stdout.write(JSON.stringify({ bySize, byPartitions: byParts, e2eLatencyMs: latency }) + '\n');
