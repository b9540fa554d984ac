/**
 * The work-queue comparison (issue 15): JOBS (40,000) jobs of 100 bytes, WORKERS (4) workers in
 * one process, each job acknowledged on its own, at most PREFETCH (64) jobs held per worker;
 * acked jobs per second, median of RUNS (3). Systems, in this order, one at a time:
 *
 *   sluice              queue mode, bench/queue.ts (concurrency 64); an ack is answered once fsynced
 *   rabbitmq (quorum)   ../shared/peers/rabbitmq-workqueue.mjs, amqplib, prefetch 64
 *   rabbitmq (classic)  the same script, classic queue
 *   nats (jetstream)    bench/peers/nats-workqueue.mjs: WorkQueue-retention stream, durable pull consumer, explicit ack
 *   bullmq (redis)      bench/peers/bullmq-workqueue.mjs: 4 Workers of concurrency 64, completed = acked
 *
 * A peer whose server is not installed (bench/peer-servers.ts) or whose script is missing is
 * skipped with the reason printed; this is a benchmark, not a test. Every peer run starts a
 * fresh server on free loopback ports with a new temp data dir (as ../shared/peers/run-peers.sh
 * does); Sluice's runs share one broker, a fresh share group each. The peer scripts run from a
 * copy in $TMPDIR/sluice-workqueue-peers, where their npm clients (bench/peers/package.json:
 * amqplib, nats, bullmq) are installed on first use.
 *
 *   npm run bench:workqueue                      # writes bench/results/workqueue.json and workqueue.svg
 *   WQ_SYSTEMS="sluice bullmq" RUNS=1 npm run bench:workqueue
 *   npm run bench:compare                        # runs this section too, into latest.json; WORKQUEUE=0 leaves it out
 *
 * Env: JOBS, WORKERS, PREFETCH, RUNS, WQ_SYSTEMS (default all five), PEERS_DIR (../shared/peers beside
 * this checkout, or beside the main one from a git worktree: peersDir() in peer-servers.ts),
 * CLIENT_TIMEOUT (s per peer client process, default 300).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, median } from './broker-process.js';
import { peerMissing, peersDir, startPeerServer, type PeerServerKind } from './peer-servers.js';
import { barChart } from './svg-chart.js';
import { machine, versions } from '../src/cli/bench/report.js';

export interface WorkQueueSystem {
  system: string;
  client: string;
  durability: string;
  /** Median acked jobs/s; null when skipped. */
  acked_jobs_s: number | null;
  runs: number[];
  /** Load average (1 min) when each run ended: the machine is shared. */
  load: string[];
  skipped?: string;
  /** Sluice only: what one acked job cost in the median run (requests, fsyncs, wire bytes). */
  per_job?: Record<string, number>;
}

export interface WorkQueueResult {
  workload: { jobs: number; size: number; workers: number; prefetch: number; runs: number; partitions: number };
  systems: WorkQueueSystem[];
}

const SYSTEMS = ['sluice', 'rabbitmq-quorum', 'rabbitmq-classic', 'nats', 'bullmq'] as const;
type SystemId = typeof SYSTEMS[number];

interface PeerSpec { name: string; server: PeerServerKind; script: string; dir: 'shared' | 'ours'; env: Record<string, string>; client: string; durability: string }
const PEER_SPECS: Record<Exclude<SystemId, 'sluice'>, PeerSpec> = {
  'rabbitmq-quorum': { name: 'rabbitmq (quorum)', server: 'rabbitmq', script: 'rabbitmq-workqueue.mjs', dir: 'shared', env: { MODE: 'quorum' }, client: 'amqplib, prefetch 64, basic.ack per job', durability: 'quorum queue: publisher confirm after the Raft WAL fsync; acks not confirmed to the client' },
  'rabbitmq-classic': { name: 'rabbitmq (classic)', server: 'rabbitmq', script: 'rabbitmq-workqueue.mjs', dir: 'shared', env: { MODE: 'classic' }, client: 'amqplib, prefetch 64, basic.ack per job', durability: 'classic durable queue, persistent messages; acks not confirmed to the client' },
  nats: { name: 'nats (jetstream)', server: 'nats', script: 'nats-workqueue.mjs', dir: 'ours', env: {}, client: 'nats.js, pull consumer, max_messages 64, m.ack() per job', durability: 'JetStream file store (page cache, periodic fsync); phase ends when the stream is empty' },
  bullmq: { name: 'bullmq (redis)', server: 'redis', script: 'bullmq-workqueue.mjs', dir: 'ours', env: {}, client: 'bullmq Worker, concurrency 64, moveToCompleted per job', durability: 'Redis AOF, appendfsync everysec' },
};

const load = () => loadavg()[0].toFixed(2);

/** Runs Sluice's queue bench as its own process and reads its JSON line. */
function sluiceRuns(jobs: number, workers: number, prefetch: number, runs: number, root: string): Promise<Record<string, any>> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/queue.ts'), '--jobs', String(jobs), '--workers', String(workers),
      '--concurrency', String(prefetch), '--runs', String(runs), '--skip-redelivery', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      if (code !== 0) return rej(new Error(`bench/queue.ts exited ${code}`));
      try { res(JSON.parse(out.trim().split('\n').pop()!)); } catch { rej(new Error(`no JSON from bench/queue.ts: ${out}`)); }
    });
  });
}

/** Copies the peer scripts (shared and ours) into one folder and installs their clients there once. */
function preparePeerDir(peersDir: string): string {
  // Our scripts take payloads and CPU accounting from the shared peers' common.mjs.
  if (!existsSync(join(peersDir, 'common.mjs'))) throw new Error(`${join(peersDir, 'common.mjs')} not found (set PEERS_DIR to the shared peers folder)`);
  const dir = join(tmpdir(), 'sluice-workqueue-peers');
  mkdirSync(dir, { recursive: true });
  const noModules = { recursive: true, filter: (src: string) => !src.includes('node_modules') };
  cpSync(peersDir, dir, noModules);
  cpSync(join(ROOT, 'bench/peers'), dir, noModules); // ours last: its package.json has every client
  // npm ci against bench/peers/package-lock.json (the same client versions on every machine),
  // again whenever that lock changed since the last install here.
  const lock = readFileSync(join(dir, 'package-lock.json'), 'utf8');
  const stamp = join(dir, 'node_modules/.sluice-peers-lock');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lock) {
    process.stderr.write(`workqueue: installing the peer clients in ${dir} (npm ci)\n`);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] }).status;
    if (r !== 0) throw new Error(`npm ci in ${dir} exited ${r}`);
    writeFileSync(stamp, lock);
  }
  return dir;
}

function runPeerClient(script: string, env: Record<string, string>, timeoutS: number): Promise<Record<string, any>> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutS * 1000 });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code, sig) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (code !== 0 || !line) return rej(new Error(`${script} exited ${code ?? sig}${out ? `: ${out.trim()}` : ''}`));
      res(JSON.parse(line));
    });
  });
}

export async function runWorkQueue(o: { jobs?: number; workers?: number; prefetch?: number; runs?: number; systems?: string[]; peersDir?: string; sluiceRoot?: string } = {}): Promise<WorkQueueResult> {
  const jobs = o.jobs ?? Number(process.env.JOBS ?? 40_000);
  const workers = o.workers ?? Number(process.env.WORKERS ?? 4);
  const prefetch = o.prefetch ?? Number(process.env.PREFETCH ?? 64);
  const runs = o.runs ?? Number(process.env.RUNS ?? 3);
  const wanted = o.systems ?? (process.env.WQ_SYSTEMS ?? SYSTEMS.join(' ')).split(/[\s,]+/).filter(Boolean);
  const peers = o.peersDir ? resolve(o.peersDir) : peersDir(ROOT);
  const timeoutS = Number(process.env.CLIENT_TIMEOUT ?? 300);
  const systems: WorkQueueSystem[] = [];
  const note = (s: string) => process.stderr.write(`workqueue: ${s}\n`);

  for (const id of wanted) {
    if (id === 'sluice') {
      note(`sluice: ${runs} runs (load ${load()})`);
      const r = await sluiceRuns(jobs, workers, prefetch, runs, o.sluiceRoot ?? ROOT);
      const t = r.throughput[0];
      systems.push({
        system: 'sluice (queue mode)', client: `QueueConsumer.run, concurrency ${prefetch}, job.ack() per job`,
        durability: 'each ack answered after the share state is fsynced (group commit)',
        acked_jobs_s: t.median, runs: t.runs, load: [t.load], per_job: t.perJob,
      });
      continue;
    }
    const spec = PEER_SPECS[id as Exclude<SystemId, 'sluice'>];
    if (!spec) { note(`unknown system '${id}' (known: ${SYSTEMS.join(', ')})`); continue; }
    const skip = (why: string) => {
      note(`${spec.name}: skipped: ${why}`);
      systems.push({ system: spec.name, client: spec.client, durability: spec.durability, acked_jobs_s: null, runs: [], load: [], skipped: why });
    };
    const missing = peerMissing(spec.server);
    if (missing) { skip(missing); continue; }
    if (spec.dir === 'shared' && !existsSync(join(peers, spec.script))) { skip(`${join(peers, spec.script)} not found (PEERS_DIR)`); continue; }
    let dir: string;
    try { dir = preparePeerDir(peers); } catch (err) { skip((err as Error).message); continue; }
    const rates: number[] = [];
    const loads: string[] = [];
    try {
      for (let run = 1; run <= runs; run++) {
        const server = await startPeerServer(spec.server);
        try {
          const r = await runPeerClient(join(dir, spec.script), {
            ...spec.env, PORT: String(server.port), SERVER_PID: server.pids.join(','), JOBS: String(jobs), WORKERS: String(workers), PREFETCH: String(prefetch),
          }, timeoutS);
          rates.push(r.acked_jobs_s);
          loads.push(load());
          note(`${spec.name} run ${run}: ${r.acked_jobs_s} acked jobs/s (load ${load()})`);
        } finally {
          await server.stop();
        }
      }
    } catch (err) {
      skip(`failed: ${(err as Error).message}`);
      continue;
    }
    systems.push({ system: spec.name, client: spec.client, durability: spec.durability, acked_jobs_s: Math.round(median(rates)), runs: rates, load: loads });
  }
  return { workload: { jobs, size: 100, workers, prefetch, runs, partitions: 1 }, systems };
}

export function workQueueChart(r: WorkQueueResult, date: string): string {
  const w = r.workload;
  return barChart(`Work queue: ${w.jobs.toLocaleString('en')} x ${w.size} B jobs, ${w.workers} workers, ack per job: acked jobs/s (median of ${w.runs}), ${date.slice(0, 10)}, ${machine().cpus} cores`,
    ['acked jobs/s'], r.systems.map((s) => ({ label: s.skipped ? `${s.system} (skipped)` : s.system, values: [s.acked_jobs_s] })), 'acked jobs per second (higher is better)');
}

export function printWorkQueue(r: WorkQueueResult): void {
  process.stderr.write('| system | acked jobs/s (median) | runs | load (1 min) |\n|---|---:|---|---|\n');
  for (const s of r.systems) {
    process.stderr.write(`| ${s.system} | ${s.acked_jobs_s ?? `skipped: ${s.skipped}`} | ${s.runs.map(Math.round).join(', ')} | ${s.load.join(', ')} |\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const date = new Date().toISOString();
  const r = await runWorkQueue();
  printWorkQueue(r);
  const out = process.env.OUT ?? join(ROOT, 'bench/results/workqueue.json');
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(out, JSON.stringify({ date, machine: machine(), versions: versions(), ...r }, null, 2) + '\n');
  writeFileSync(out.replace(/\.json$/, '.svg'), workQueueChart(r, date));
  process.stdout.write(JSON.stringify(r.systems.map(({ system, acked_jobs_s }) => ({ system, acked_jobs_s }))) + '\n');
}
