/**
 * A/B of one `sluice bench` workload between source roots (e.g. a `git worktree` of the
 * commit before a change, and this checkout), interleaved in one run, fresh broker per run:
 *   node --import tsx bench/ab.ts before=/tmp/wt-before after=. -- e2e -n 60000 --rate 10000
 * Prints per-run values and medians of msgs/s and, for e2e, the latency percentiles.
 * Env: RUNS (3), BROKER_ARGS (extra broker flags), NODE_ARGS (e.g. --cpu-prof),
 * CONSUME_ARGS (extra `bench consume` flags; the other args fill the topic first),
 * ARGS_<name> (extra bench flags for variant <name> only, e.g. ARGS_after=--no-idempotent).
 *
 * `queue` runs each variant's own bench/queue.ts (queue mode: its broker, its client) once per
 * run with the flags after it, e.g. `-- queue --jobs 40000 --workers 4`, and prints acked
 * jobs/s and the per-job counts (requests, fsyncs, wire bytes) of every workers x partitions
 * combination.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { benchCli, median, startBroker } from './broker-process.js';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const variants = argv.slice(0, sep).map((kv) => { const [name, p] = kv.split('='); return { name, root: resolve(p) }; });
const args = argv.slice(sep + 1);
const RUNS = Number(process.env.RUNS ?? 3);
const brokerArgs = (process.env.BROKER_ARGS ?? '').split(' ').filter(Boolean);
const nodeArgs = (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean);
const consumeArgs = (process.env.CONSUME_ARGS ?? '').split(' ').filter(Boolean);
const own = (name: string) => (process.env[`ARGS_${name}`] ?? '').split(' ').filter(Boolean);

/** One run of `root`'s bench/queue.ts: a row per workers x partitions combination. */
function queueRun(root: string, extra: string[]): Record<string, any> {
  const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', join(root, 'bench/queue.ts'), '--json', '--runs', '1', '--skip-redelivery', ...extra],
    { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bench/queue.ts in ${root} failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const row: Record<string, any> = {};
  for (const t of out.throughput ?? []) {
    const k = `w${t.workers}p${t.partitions}`;
    row[`${k} jobs/s`] = t.median;
    for (const [name, v] of Object.entries(t.perJob)) row[`${k} ${name}`] = v;
  }
  if (out.latency) { row['latency p50 ms'] = out.latency.fromAckMs.p50; row['latency p99 ms'] = out.latency.fromAckMs.p99; }
  row.load = Number(out.throughput?.[0]?.load ?? out.latency?.load ?? NaN);
  return row;
}

const results = new Map<string, Record<string, any>[]>();
for (let r = 1; r <= RUNS; r++) {
  for (const v of r % 2 ? variants : [...variants].reverse()) { // ABBA order
    if (args[0] === 'queue') {
      let row: Record<string, any>;
      try {
        row = queueRun(v.root, [...args.slice(1), ...own(v.name)]);
      } catch (err) {
        // A loaded machine can keep a broker from starting in time: that run is left out.
        process.stderr.write(`${v.name} run ${r} failed, left out: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}\n`);
        continue;
      }
      process.stderr.write(`${v.name} run ${r}: ${JSON.stringify(row)}\n`);
      if (!results.has(v.name)) results.set(v.name, []);
      results.get(v.name)!.push(row);
      continue;
    }
    const b = await startBroker(v.root, brokerArgs);
    try {
      let res: Record<string, any>;
      let cpu0 = b.cpuSeconds();
      if (args[0] === 'consume' && !args.includes('-t')) {
        // fill first with the same producer settings, then time the replay only
        await benchCli(['produce', '-b', b.url, '-t', 'ab', ...args.slice(1), ...own(v.name)], v.root);
        cpu0 = b.cpuSeconds();
        res = await benchCli(['consume', '-b', b.url, '-t', 'ab', ...consumeArgs], v.root, nodeArgs);
      } else {
        res = await benchCli([args[0], '-b', b.url, ...args.slice(1), ...own(v.name)], v.root, nodeArgs);
      }
      // Broker CPU per million messages: less sensitive than msgs/s to what else the machine runs.
      const brokerCpuMsPerM = Math.round(((b.cpuSeconds() - cpu0) * 1e9) / res.messages);
      const row = { msgsPerSec: res.msgsPerSec, clientCores: res.clientCores, brokerCpuMsPerM, ...(res.latencyMs ?? {}) };
      process.stderr.write(`${v.name} run ${r}: ${JSON.stringify(row)}\n`);
      if (!results.has(v.name)) results.set(v.name, []);
      results.get(v.name)!.push(row);
    } finally {
      await b.stop();
    }
  }
}
for (const [name, rows] of results) {
  const keys = Object.keys(rows[0]);
  const med = Object.fromEntries(keys.map((k) => [k, median(rows.map((x) => x[k]))]));
  process.stdout.write(`${name}: ${JSON.stringify(med)}\n`);
}
