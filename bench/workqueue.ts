/**
 * The work-queue comparison (issue 15): JOBS (40,000) jobs of 100 bytes, WORKERS (4) workers in
 * one process, each job acknowledged on its own, at most PREFETCH (64) jobs held per worker;
 * acked jobs per second. Systems, in this order, one at a time:
 *
 *   sluice              queue mode, bench/queue.ts (concurrency 64); an ack is answered once fsynced
 *   rabbitmq (quorum)   ../shared/peers/rabbitmq-workqueue.mjs, amqplib, prefetch 64
 *   rabbitmq (classic)  the same script, classic queue
 *   nats (jetstream)    bench/peers/nats-workqueue.mjs: WorkQueue-retention stream, durable pull consumer, explicit ack
 *   bullmq (redis)      bench/peers/bullmq-workqueue.mjs: 4 Workers of concurrency 64, completed = acked
 *
 * The protocol, the same for every system: one server (a fresh one, on free loopback ports and
 * a new temp data dir) and one client process for all of the system's runs; first WARMUP runs
 * of the workload that the warm figure leaves out, then RUNS timed runs. Two figures:
 *   cold  the first run: a fresh server and a fresh client process, nothing compiled yet. Until
 *         session 13 every peer figure was a median of such runs (Sluice's a median of its
 *         first 3 runs on one broker), so this column is the old measure.
 *   warm  the median of the RUNS runs after the WARMUP ones: the same server and client
 *         process, their JIT (V8's for Sluice and for every Node client) warmed up.
 * Sluice's runs are bench/queue.ts --warmup (one broker, the workers in the bench process, a
 * fresh share group each run); a peer's are bench/peers/repeat-runs.mjs, which runs its script
 * WARMUP + RUNS times in one process (every run publishes its own JOBS to a new queue, then
 * times the consume phase). Why: docs/queue-performance.md, "Cold and warm".
 *
 * A peer whose server is not installed (bench/peer-servers.ts) or whose script is missing is
 * skipped with the reason printed; this is a benchmark, not a test. The peer scripts run from a
 * copy of their own per bench process under $TMPDIR/sluice-workqueue-peers, where their npm
 * clients (bench/peers/package.json: amqplib, nats, bullmq) are installed on first use.
 *
 *   npm run bench:workqueue                      # writes bench/results/workqueue.json and workqueue.svg
 *   WQ_SYSTEMS="sluice bullmq" RUNS=1 WARMUP=1 npm run bench:workqueue
 *   npm run bench:compare                        # runs this section too, into latest.json; WORKQUEUE=0 leaves it out
 *
 * Env: JOBS, WORKERS, PREFETCH, RUNS (3), WARMUP (DEFAULT_WARMUP), WQ_SYSTEMS (default all five),
 * PEERS_DIR (../shared/peers beside this checkout, or beside the main one from a git worktree:
 * peersDir() in peer-servers.ts), CLIENT_TIMEOUT (s per peer run, default 300).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, median } from './broker-process.js';
import { peerMissing, peersDir, startPeerServer, type PeerServer, type PeerServerKind } from './peer-servers.js';
import { barChart } from './svg-chart.js';
import { machine, versions } from '../src/cli/bench/report.js';

/**
 * Untimed warm-up runs before the timed ones, the same for every system. Sluice's broker and
 * workers need about this many runs of 40,000 jobs before their CPU per job stops falling
 * (docs/queue-performance.md, "Cold and warm").
 */
export const DEFAULT_WARMUP = 8;

export interface WorkQueueSystem {
  system: string;
  client: string;
  durability: string;
  /** Median acked jobs/s of the timed runs (after the warm-up runs, same server and client process); null when skipped. */
  warm_acked_jobs_s: number | null;
  /** Acked jobs/s of the first run (fresh server, fresh client process); null when skipped. */
  cold_acked_jobs_s: number | null;
  /** Acked jobs/s of the warm-up runs, in order (the first is the cold one). */
  warmup_runs: number[];
  /** Acked jobs/s of the timed runs. */
  runs: number[];
  /** Load average (1 min) when each run ended, warm-up runs first: the machine is shared. */
  load: string[];
  skipped?: string;
  /**
   * What one acked job cost in the median timed run, and in the first: Sluice's requests,
   * fsyncs, wire bytes and CPU from bench/queue.ts; a peer's CPU microseconds of its workers'
   * process and (where its script reports it) of its server.
   */
  per_job?: Record<string, number>;
  per_job_cold?: Record<string, number>;
}

export interface WorkQueueResult {
  workload: { jobs: number; size: number; workers: number; prefetch: number; warmup: number; runs: number; partitions: number };
  protocol: string;
  systems: WorkQueueSystem[];
}

const protocol = (warmup: number, runs: number) =>
  `every system: one fresh server and one client process for all its runs; cold = the first run; ${warmup} warm-up runs (the first included), ` +
  `then warm = the median of ${runs} timed runs`;

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

/** What runs now and must not outlive this process: a peer's server (own process group), the client (a peer's, or Sluice's bench/queue.ts). */
interface Live { server?: PeerServer | undefined; client?: ChildProcess | undefined; dir?: string }

/** Runs Sluice's queue bench as its own process (its own broker) and reads its JSON line. */
function sluiceRuns(jobs: number, workers: number, prefetch: number, warmup: number, runs: number, root: string, live: Live): Promise<Record<string, any>> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/queue.ts'), '--jobs', String(jobs), '--workers', String(workers),
      '--concurrency', String(prefetch), '--warmup', String(warmup), '--runs', String(runs), '--skip-redelivery', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    live.client = p;
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      live.client = undefined;
      if (code !== 0) return rej(new Error(`bench/queue.ts exited ${code}`));
      try { res(JSON.parse(out.trim().split('\n').pop()!)); } catch { rej(new Error(`no JSON from bench/queue.ts: ${out}`)); }
    });
  });
}

/**
 * Installs the peers' clients once in $TMPDIR/sluice-workqueue-peers and copies the scripts
 * (shared and ours) into a folder of this process's own below it (Node finds the clients in
 * the parent's node_modules), so that two benches at once never run each other's copies.
 * Returns that folder; the caller removes it.
 */
function preparePeerDir(peersDir: string): string {
  // Our scripts take payloads and CPU accounting from the shared peers' common.mjs.
  if (!existsSync(join(peersDir, 'common.mjs'))) throw new Error(`${join(peersDir, 'common.mjs')} not found (set PEERS_DIR to the shared peers folder)`);
  const base = join(tmpdir(), 'sluice-workqueue-peers');
  mkdirSync(base, { recursive: true });
  // npm ci against bench/peers/package-lock.json (the same client versions on every machine),
  // again whenever that lock changed since the last install here. Ours has every client.
  const lock = readFileSync(join(ROOT, 'bench/peers/package-lock.json'), 'utf8');
  const stamp = join(base, 'node_modules/.sluice-peers-lock');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lock) {
    process.stderr.write(`workqueue: installing the peer clients in ${base} (npm ci)\n`);
    cpSync(join(ROOT, 'bench/peers/package.json'), join(base, 'package.json'));
    writeFileSync(join(base, 'package-lock.json'), lock);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: base, stdio: ['ignore', 'ignore', 'inherit'] }).status;
    if (r !== 0) throw new Error(`npm ci in ${base} exited ${r}`);
    writeFileSync(stamp, lock);
  }
  const dir = join(base, `run-${process.pid}`);
  const noModules = { recursive: true, filter: (src: string) => !src.includes('node_modules') };
  cpSync(peersDir, dir, noModules);
  cpSync(join(ROOT, 'bench/peers'), dir, noModules); // ours last: a script of ours replaces a shared one of the same name
  return dir;
}

/**
 * One client process for all of a peer's runs: bench/peers/repeat-runs.mjs runs `script`
 * `count` times and each run prints one JSON line, handed to `onRun` as it arrives.
 */
function runPeerClient(dir: string, script: string, count: number, env: Record<string, string>, timeoutS: number,
  onRun: (r: Record<string, any>) => void, live: Live): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [join(dir, 'repeat-runs.mjs'), join(dir, script), String(count)],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutS * count * 1000 });
    live.client = p;
    let out = '';
    let seen = 0;
    let failed: Error | undefined;
    p.stdout.on('data', (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl).trim();
        out = out.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          onRun(JSON.parse(line));
          seen++;
        } catch (err) { failed ??= new Error(`${script}: unreadable line ${JSON.stringify(line)}: ${(err as Error).message}`); }
      }
    });
    p.on('close', (code, sig) => {
      live.client = undefined;
      if (failed) return rej(failed);
      if (code !== 0 || seen !== count) return rej(new Error(`${script} (${count} runs in one process) exited ${code ?? sig} after ${seen} runs${out.trim() ? `: ${out.trim()}` : ''}`));
      res();
    });
  });
}

/**
 * On SIGINT or SIGTERM, stops the client (bench/queue.ts stops its broker) and a peer's server,
 * removes the scripts' copy, then
 * exits: a peer server runs in a process group of its own (peer-servers.ts), so a Ctrl-C or a
 * `timeout` would otherwise leave it running, its data dir in $TMPDIR. A server still starting
 * is killed by peer-servers.ts as this process exits. A second signal kills this process at
 * once. Returns the function that removes the handlers.
 */
function stopPeersOnSignal(live: Live, note: (s: string) => void): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    note(`${sig}: stopping the client and the peer's server`);
    live.client?.kill('SIGTERM');
    void (live.server?.stop() ?? Promise.resolve()).finally(() => {
      if (live.dir) rmSync(live.dir, { recursive: true, force: true });
      process.exit(128 + constants.signals[sig]);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); };
}

/** A peer's CPU per acked job from its script's line (cores over the consume phase's seconds). */
function peerPerJob(r: Record<string, any>): Record<string, number> {
  const us = (cores: unknown) => +((Number(cores) * Number(r.seconds) * 1e6) / Number(r.jobs)).toFixed(1);
  const out: Record<string, number> = {};
  if (r.client_cores != null) out['workers cpu us'] = us(r.client_cores);
  if (r.server_cores != null) out['server cpu us'] = us(r.server_cores);
  return out;
}

export async function runWorkQueue(o: { jobs?: number; workers?: number; prefetch?: number; warmup?: number; runs?: number; systems?: string[]; peersDir?: string; sluiceRoot?: string } = {}): Promise<WorkQueueResult> {
  const jobs = o.jobs ?? Number(process.env.JOBS ?? 40_000);
  const workers = o.workers ?? Number(process.env.WORKERS ?? 4);
  const prefetch = o.prefetch ?? Number(process.env.PREFETCH ?? 64);
  const warmup = o.warmup ?? Number(process.env.WARMUP ?? DEFAULT_WARMUP);
  const runs = o.runs ?? Number(process.env.RUNS ?? 3);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`WARMUP must be a whole number >= 0, got ${warmup}`);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`RUNS must be a whole number >= 1, got ${runs}`);
  const wanted = o.systems ?? (process.env.WQ_SYSTEMS ?? SYSTEMS.join(' ')).split(/[\s,]+/).filter(Boolean);
  const peers = o.peersDir ? resolve(o.peersDir) : peersDir(ROOT);
  const timeoutS = Number(process.env.CLIENT_TIMEOUT ?? 300);
  const systems: WorkQueueSystem[] = [];
  const note = (s: string) => process.stderr.write(`workqueue: ${s}\n`);
  let dir: string | undefined;
  const live: Live = {};
  const unhook = stopPeersOnSignal(live, note);

  try {
    for (const id of wanted) {
      if (id === 'sluice') {
        note(`sluice: ${warmup} warm-up runs, then ${runs} timed runs, one broker and one workers' process (load ${load()})`);
        const r = await sluiceRuns(jobs, workers, prefetch, warmup, runs, o.sluiceRoot ?? ROOT, live);
        const t = r.throughput[0];
        systems.push({
          system: 'sluice (queue mode)', client: `QueueConsumer.run, concurrency ${prefetch}, job.ack() per job`,
          durability: 'each ack answered after the share state is fsynced (group commit)',
          warm_acked_jobs_s: t.median, cold_acked_jobs_s: t.cold, warmup_runs: t.warmup, runs: t.runs, load: t.loads,
          per_job: t.perJob, per_job_cold: t.coldPerJob,
        });
        continue;
      }
      const spec = PEER_SPECS[id as Exclude<SystemId, 'sluice'>];
      if (!spec) { note(`unknown system '${id}' (known: ${SYSTEMS.join(', ')})`); continue; }
      const skip = (why: string) => {
        note(`${spec.name}: skipped: ${why}`);
        systems.push({ system: spec.name, client: spec.client, durability: spec.durability, warm_acked_jobs_s: null, cold_acked_jobs_s: null, warmup_runs: [], runs: [], load: [], skipped: why });
      };
      const missing = peerMissing(spec.server);
      if (missing) { skip(missing); continue; }
      if (spec.dir === 'shared' && !existsSync(join(peers, spec.script))) { skip(`${join(peers, spec.script)} not found (PEERS_DIR)`); continue; }
      try { dir ??= live.dir = preparePeerDir(peers); } catch (err) { skip((err as Error).message); continue; }
      const all: Record<string, any>[] = [];
      const loads: string[] = [];
      try {
        note(`${spec.name}: ${warmup} warm-up runs, then ${runs} timed runs, one server and one client process (load ${load()})`);
        const server = live.server = await startPeerServer(spec.server);
        try {
          await runPeerClient(dir, spec.script, warmup + runs, {
            ...spec.env, PORT: String(server.port), SERVER_PID: server.pids.join(','), JOBS: String(jobs), WORKERS: String(workers), PREFETCH: String(prefetch),
          }, timeoutS, (r) => {
            all.push(r);
            loads.push(load());
            note(`${spec.name} ${all.length <= warmup ? 'warm-up ' : ''}run ${all.length}: ${r.acked_jobs_s} acked jobs/s (load ${load()}) per job: ${JSON.stringify(peerPerJob(r))}`);
          }, live);
        } finally {
          await server.stop();
          live.server = undefined;
        }
      } catch (err) {
        skip(`failed: ${(err as Error).message}`);
        continue;
      }
      const timed = all.slice(warmup);
      const rates = timed.map((r) => Number(r.acked_jobs_s));
      const med = median(rates);
      systems.push({
        system: spec.name, client: spec.client, durability: spec.durability,
        warm_acked_jobs_s: Math.round(med), cold_acked_jobs_s: Number(all[0].acked_jobs_s),
        warmup_runs: all.slice(0, warmup).map((r) => Number(r.acked_jobs_s)), runs: rates, load: loads,
        per_job: peerPerJob(timed.find((r) => Number(r.acked_jobs_s) === med) ?? timed[0]), per_job_cold: peerPerJob(all[0]),
      });
    }
  } finally {
    unhook();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return { workload: { jobs, size: 100, workers, prefetch, warmup, runs, partitions: 1 }, protocol: protocol(warmup, runs), systems };
}

export function workQueueChart(r: WorkQueueResult, date: string): string {
  const w = r.workload;
  return barChart(`Work queue: ${w.jobs.toLocaleString('en')} x ${w.size} B jobs, ${w.workers} workers, ack per job: acked jobs/s, ${date.slice(0, 10)}, ${machine().cpus} cores`,
    [`warm: median of ${w.runs} after ${w.warmup} warm-up runs`, 'cold: first run, fresh server and client'],
    r.systems.map((s) => ({ label: s.skipped ? `${s.system} (skipped)` : s.system, values: [s.warm_acked_jobs_s, s.cold_acked_jobs_s] })),
    'acked jobs per second (higher is better); each system: one server and one client process for all its runs');
}

export function printWorkQueue(r: WorkQueueResult): void {
  const w = r.workload;
  process.stderr.write(`| system | warm: median of ${w.runs} after ${w.warmup} warm-up runs | cold: first run | warm-up runs | timed runs | load (1 min, after the runs) |\n|---|---:|---:|---|---|---|\n`);
  for (const s of r.systems) {
    if (s.skipped) { process.stderr.write(`| ${s.system} | skipped: ${s.skipped} | | | | |\n`); continue; }
    const list = (xs: number[]) => xs.map(Math.round).join(', ');
    const loads = s.load.map(Number);
    process.stderr.write(`| ${s.system} | ${s.warm_acked_jobs_s} | ${s.cold_acked_jobs_s} | ${list(s.warmup_runs)} | ${list(s.runs)} | ${Math.min(...loads)}-${Math.max(...loads)} |\n`);
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
  process.stdout.write(JSON.stringify(r.systems.map(({ system, warm_acked_jobs_s, cold_acked_jobs_s }) => ({ system, warm_acked_jobs_s, cold_acked_jobs_s }))) + '\n');
}
