/**
 * Queue mode (share groups) through the real broker process:
 *   1. throughput: acked jobs per second, W workers in this process (QueueConsumer.run,
 *      trivial handler, each job acked on its own), small jobs, P partitions; median of RUNS
 *      runs (a fresh group each run). `--workers 1,4,16 --partitions 1,4` runs every
 *      combination (the scaling table of docs/queue-performance.md). Each run also reports,
 *      from the broker's metrics and sockets, what one acked job costs: requests by api,
 *      fsyncs, bytes on the wire (the workers' connections, both directions, from `ss`), and
 *      CPU microseconds of the broker and of this process (the workers).
 *   2. pick-up latency (`--latency`): workers wait idle (parked acquires); one job at a time
 *      is produced at `--rate` jobs/s; the time from the produce's acknowledgement (and from
 *      the send call) to the handler starting, p50/p99. Negative: the handler started
 *      before the producer saw its acknowledgement.
 *   3. redelivery delay: a worker takes a job and never settles it; how long after the
 *      acquisition the job reaches another worker, against the visibility timeout.
 *
 *   node --import tsx bench/queue.ts [--jobs 20000] [--size 100] [--workers 4] [--partitions 1] [--concurrency 64] [--shared-connection]
 *        [--runs 3] [--warmup 0] [--produce-batch 1000] [--visibility 1000] [--skip-redelivery] [--latency [--rate 1000] [--latency-jobs 5000] [--latency-workers 4]] [--json]
 *   profiling: [--broker-cpu-prof DIR] (node --cpu-prof of the broker, whole life)
 *        [--broker-node-args '--trace-gc ...'] (extra node flags for the broker: V8 flag experiments)
 *        [--broker-output FILE] (a copy of the broker's stdout and stderr, e.g. for --trace-opt) [--workers-cpu-prof FILE]
 *        (the workers' process, throughput runs only) [--workers-heap-prof FILE] (the workers' process,
 *        sampled allocations of the throughput runs, a .heapprofile for Chrome DevTools or
 *        bench/heapprofile-summary.ts) [--strace FILE] (strace -c of the broker's fsync and
 *        fdatasync calls, all threads, throughput runs only)
 *
 * The workers' garbage collection is counted per job too (v8.GCProfiler, this process,
 * throughput runs): `workers gc us` (time in collections), `workers scavenges` and
 * `workers promoted bytes` (what the scavenges moved to the old generation). Like the CPU
 * per job they depend on the code, not on the machine's load.
 *
 * --warmup N: before the RUNS timed runs of each workers x partitions combination, N runs of the
 * same workload on the same broker and in the same process that the median leaves out (JIT
 * warm-up: docs/queue-performance.md, "Cold and warm"). They are still measured: `warmup`
 * holds their rates, and `cold` is the first run of the combination with `coldPerJob` its cost
 * per job (a fresh broker's and process's first run only for the first combination).
 *
 * --shared-connection: the throughput run's workers share one connection (QueueConsumer's
 * shareConnectionWith), so their acks of one tick travel as one ShareAck; by default each
 * worker has its own connection, as each worker of the peers in bench/peers/ has.
 *
 * Starts its own broker (bench/broker-process.ts) on a temp data dir. --json prints one JSON
 * line at the end (bench/workqueue.ts reads it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { constants, loadavg } from 'node:os';
import v8 from 'node:v8';
import { parseArgs } from 'node:util';
import { startBroker, median, procCpuSeconds, procMainThreadCpuSeconds } from './broker-process.js';
import { Admin, Producer, QueueConsumer, type Job } from '../src/client/index.js';
import { Connection } from '../src/client/connection.js';
import { Api } from '../src/protocol/api.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    size: { type: 'string', default: '100' },
    workers: { type: 'string', default: '4' },
    partitions: { type: 'string', default: '1' },
    'produce-batch': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    visibility: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '0' },
    'skip-redelivery': { type: 'boolean', default: false },
    'skip-throughput': { type: 'boolean', default: false },
    latency: { type: 'boolean', default: false },
    rate: { type: 'string', default: '1000' },
    'latency-jobs': { type: 'string', default: '5000' },
    'latency-workers': { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
    'shared-connection': { type: 'boolean', default: false },
    'broker-cpu-prof': { type: 'string' },
    'broker-node-args': { type: 'string', default: '' },
    'broker-output': { type: 'string' },
    'workers-cpu-prof': { type: 'string' },
    'workers-heap-prof': { type: 'string' },
    strace: { type: 'string' },
  },
});
const list = (s: string) => s.split(',').map(Number);
const JOBS = Number(values.jobs);
const SIZE = Number(values.size);
const WORKERS = list(values.workers);
const PARTITIONS = list(values.partitions);
const CONCURRENCY = Number(values.concurrency);
const VISIBILITY = Number(values.visibility);
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
if (!Number.isInteger(WARMUP) || WARMUP < 0) throw new Error(`--warmup must be a whole number >= 0, got '${values.warmup}'`);
/** Records per producer send (one stored batch each): an acquire is answered with the whole batches covering it. */
const PRODUCE_BATCH = Number(values['produce-batch']);
const RATE = Number(values.rate);
const LATENCY_JOBS = Number(values['latency-jobs']);

const say = (s: string) => (values.json ? process.stderr : process.stdout).write(s + '\n');
const load = () => loadavg()[0].toFixed(2);

/** Counters from the broker's /metrics that say what a job costs: requests by api, fsyncs. */
async function brokerCounters(httpUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^sluice_requests_total\{api="([^"]+)"\} (\S+)$/.exec(line) ?? /^(sluice_fsync_duration_seconds_count) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Bytes sent and received so far by the broker's sockets on `port` (Linux `ss -ti`); undefined without ss. */
function socketBytes(port: number): { sent: number; received: number } | undefined {
  const r = spawnSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  let sent = 0;
  let received = 0;
  for (const m of r.stdout.matchAll(/bytes_sent:(\d+)/g)) sent += Number(m[1]);
  for (const m of r.stdout.matchAll(/bytes_received:(\d+)/g)) received += Number(m[1]);
  return { sent, received };
}

interface RunResult { jobsPerSec: number; perJob: Record<string, number>; window: string }

/** CLOCK_MONOTONIC in microseconds: V8's profile clock, for cpuprofile-summary.ts --window. */
const monoUs = () => String(process.hrtime.bigint() / 1000n);

/** One throughput run: a fresh group of `workers` workers acks `JOBS` jobs of `topic`. */
async function throughputRun(url: string, httpUrl: string, port: number, topic: string, groupId: string, workers: number, brokerPid: number): Promise<RunResult> {
  const before = await brokerCounters(httpUrl);
  // CPU per job, the broker's and this process's (the workers): on a loaded machine far
  // steadier than jobs/s, which mostly measures what else the cores run.
  const brokerCpu0 = procCpuSeconds(brokerPid);
  const brokerMain0 = procMainThreadCpuSeconds(brokerPid);
  const workersMain0 = procMainThreadCpuSeconds(process.pid);
  const workersCpu0 = process.cpuUsage();
  const heap = values['workers-heap-prof'] ? await startHeapSampling() : undefined;
  const gc = new v8.GCProfiler();
  gc.start();
  let acked = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => { finish = r; });
  const consumers: QueueConsumer[] = [];
  for (let i = 0; i < workers; i++) {
    consumers.push(new QueueConsumer({
      url, groupId, topics: topic, workerId: `w${i}`, concurrency: CONCURRENCY, maxWaitMs: 200,
      ...(values['shared-connection'] && i > 0 && { shareConnectionWith: consumers[0] }),
    }));
  }
  const w0 = monoUs();
  const t0 = performance.now();
  let firstAckMs = 0;
  const running = consumers.map((w) => w.run(async (job: Job) => {
    await job.ack();
    // How long the workers took to connect, join and get their first ack answered: part of
    // every run, most of a cold one's start (docs/queue-performance.md, step 16).
    if (acked === 0) firstAckMs = performance.now() - t0;
    if (++acked === JOBS) finish();
  }));
  await done;
  const secs = (performance.now() - t0) / 1000;
  const window = `${w0}-${monoUs()}`;
  const wire = socketBytes(port); // before close: only the workers' connections are open now
  const brokerCpuUs = (procCpuSeconds(brokerPid) - brokerCpu0) * 1e6;
  const brokerMainUs = (procMainThreadCpuSeconds(brokerPid) - brokerMain0) * 1e6;
  const workersCpu = process.cpuUsage(workersCpu0);
  const workersMainUs = (procMainThreadCpuSeconds(process.pid) - workersMain0) * 1e6;
  const gcStats = gcPerJob(gc.stop(), JOBS);
  if (heap) await heap.stop(values['workers-heap-prof']!);
  await Promise.all(consumers.map((w) => w.close()));
  await Promise.all(running);
  const after = await brokerCounters(httpUrl);
  const perJob: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0 && k !== 'Metadata') perJob[k === 'sluice_fsync_duration_seconds_count' ? 'fsyncs' : `${k} requests`] = +(d / JOBS).toFixed(4);
  }
  if (brokerCpuUs > 0) perJob['broker cpu us'] = +(brokerCpuUs / JOBS).toFixed(1);
  // The main thread's share (the event loop); the rest is V8's helper threads (JIT, GC) and
  // libuv's pool: a cold run spends much of its CPU there (docs/queue-performance.md).
  if (brokerMainUs > 0) perJob['broker main thread cpu us'] = +(brokerMainUs / JOBS).toFixed(1);
  perJob['workers cpu us'] = +((workersCpu.user + workersCpu.system) / JOBS).toFixed(1);
  if (workersMainUs > 0) perJob['workers main thread cpu us'] = +(workersMainUs / JOBS).toFixed(1);
  Object.assign(perJob, gcStats);
  perJob['first ack ms'] = Math.round(firstAckMs);
  if (wire) {
    perJob['wire bytes to broker'] = Math.round(wire.received / JOBS);
    perJob['wire bytes from broker'] = Math.round(wire.sent / JOBS);
  }
  return { jobsPerSec: JOBS / secs, perJob, window };
}

/**
 * Samples this process's allocations (the workers') until stop(), which writes a .heapprofile
 * (each run overwrites it: use --runs 1). Objects the collector freed are kept in the
 * samples: what is asked is what the run allocated, not what survived it.
 */
async function startHeapSampling(): Promise<{ stop(file: string): Promise<void> }> {
  const s = new Session();
  s.connect();
  // Every 4 KB allocated on average (the default is 32 KB): enough samples for the small per-job objects.
  await s.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  return {
    async stop(file: string) {
      const { profile } = await s.post('HeapProfiler.stopSampling');
      writeFileSync(file, JSON.stringify(profile));
      s.disconnect();
      say(`workers' heap profile written to ${file}`);
    },
  };
}

/** The workers' garbage collection per job from a GCProfiler result: time, scavenges, bytes the scavenges promoted. */
function gcPerJob(result: v8.GCProfilerResult, jobs: number): Record<string, number> {
  const old = (h: v8.GCProfilerResult['statistics'][number]['afterGC']) => h.heapSpaceStatistics.find((s) => s.spaceName === 'old_space')?.spaceUsedSize ?? 0;
  let us = 0;
  let scavenges = 0;
  let promoted = 0;
  for (const g of result.statistics) {
    us += g.cost;
    if (g.gcType !== 'Scavenge') continue;
    scavenges++;
    promoted += old(g.afterGC) - old(g.beforeGC);
  }
  return {
    'workers gc us': +(us / jobs).toFixed(2),
    'workers scavenges': +(scavenges / jobs).toFixed(5),
    'workers promoted bytes': Math.round(promoted / jobs),
  };
}

async function produceJobs(url: string, topic: string, partitions: number, n: number): Promise<void> {
  const producer = new Producer({ url, acks: 1 });
  const payload = 'x'.repeat(SIZE);
  let p = 0;
  for (let i = 0; i < n; i += PRODUCE_BATCH) {
    // Explicit partitions, round robin per send: every partition gets an even share.
    await producer.send(topic, Array.from({ length: Math.min(PRODUCE_BATCH, n - i) }, () => ({ value: payload, partition: p })));
    p = (p + 1) % partitions;
  }
  await producer.close();
}

async function throughput(url: string, httpUrl: string, port: number, admin: Admin, brokerPid: number) {
  const results: {
    workers: number; partitions: number; median: number; runs: number[]; perJob: Record<string, number>; load: string;
    /** The warm-up runs' rates (left out of the median), the first run's rate and cost (see --warmup), the load after every run. */
    warmup: number[]; cold: number; coldPerJob: Record<string, number>; loads: string[];
  }[] = [];
  let prof: Session | undefined;
  if (values['workers-cpu-prof']) {
    prof = new Session();
    prof.connect();
    await prof.post('Profiler.enable');
    await prof.post('Profiler.start');
  }

  const strace = values.strace
    ? spawn('strace', ['-c', '-f', '-e', 'trace=fsync,fdatasync', '-o', values.strace, '-p', String(brokerPid)], { stdio: 'ignore' })
    : undefined;
  if (strace) await new Promise((r) => setTimeout(r, 1000)); // attached to every thread before the first run
  for (const partitions of PARTITIONS) {
    const topic = `bench-q-p${partitions}`;
    await admin.createTopic(topic, partitions);
    // Every run's group reads the topic from the start and stops after JOBS acks; the topic
    // holds twice that, so no run waits for data however much its workers prefetch.
    await produceJobs(url, topic, partitions, 2 * JOBS);
    for (const workers of WORKERS) {
      const runs: RunResult[] = [];
      const warmup: RunResult[] = [];
      const loads: string[] = [];
      for (let run = 0; run < WARMUP + RUNS; run++) {
        const r = await throughputRun(url, httpUrl, port, topic, `bench-p${partitions}-w${workers}-${run}`, workers, brokerPid);
        (run < WARMUP ? warmup : runs).push(r);
        loads.push(load());
        say(`${workers} workers, ${partitions} partitions, ${run < WARMUP ? 'warm-up ' : ''}run ${run + 1}: ${Math.round(r.jobsPerSec)} acked jobs/s (load ${load()}) per job: ${JSON.stringify(r.perJob)} profile window ${r.window}`);
      }
      const rates = runs.map((r) => r.jobsPerSec);
      const med = median(rates);
      const mid = runs.find((r) => r.jobsPerSec === med) ?? runs[0];
      const first = warmup[0] ?? runs[0];
      results.push({
        workers, partitions, median: Math.round(med), runs: rates.map(Math.round), perJob: mid.perJob, load: load(),
        warmup: warmup.map((r) => Math.round(r.jobsPerSec)), cold: Math.round(first.jobsPerSec), coldPerJob: first.perJob, loads,
      });
      say(`throughput (${workers} workers, concurrency ${CONCURRENCY}, ${SIZE}-byte jobs, ${partitions} partitions): median ${Math.round(med)} acked jobs/s` +
        (WARMUP ? ` (of ${RUNS} runs after ${WARMUP} warm-up runs)` : ''));
    }
  }
  if (strace) {
    const exited = new Promise((r) => strace.once('exit', r));
    strace.kill('SIGINT');
    await exited;
    say(`strace -c of the broker's fsync/fdatasync calls written to ${values.strace}`);
  }
  if (prof) {
    const { profile } = await prof.post('Profiler.stop');
    writeFileSync(values['workers-cpu-prof']!, JSON.stringify(profile));
    prof.disconnect();
    say(`workers' CPU profile written to ${values['workers-cpu-prof']}`);
  }
  return results;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2);
};

/** Idle workers, one job produced at a time at RATE/s: produce ack (and send) to handler start. */
async function pickUpLatency(url: string, admin: Admin) {
  const topic = 'bench-latency';
  await admin.createTopic(topic, 1);
  const workers = Number(values['latency-workers']);
  const sentAt = new Float64Array(LATENCY_JOBS);
  const ackedAt = new Float64Array(LATENCY_JOBS);
  const startedAt = new Float64Array(LATENCY_JOBS);
  let started = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => { finish = r; });
  const consumers = Array.from({ length: workers }, (_, i) => new QueueConsumer({ url, groupId: 'bench-latency', topics: topic, workerId: `l${i}`, concurrency: CONCURRENCY }));
  const running = consumers.map((w) => w.run(async (job: Job) => {
    startedAt[Number(job.value!.toString('latin1', 0, 8))] = performance.now();
    await job.ack();
    if (++started === LATENCY_JOBS) finish();
  }));
  // Wait until every worker has an acquire parked at the broker (the group exists and is empty).
  const probe = new Producer({ url, acks: 1, lingerMs: 0 });
  const warm = 200;
  for (let i = 0; i < warm; i++) await probe.send(topic, { value: 'w' });
  while (started < warm) await new Promise((r) => setTimeout(r, 10));
  started = 0;
  await new Promise((r) => setTimeout(r, 500));
  const pad = 'y'.repeat(Math.max(0, SIZE - 8));
  const t0 = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < LATENCY_JOBS; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    sentAt[i] = performance.now();
    sends.push(probe.send(topic, { value: String(i).padStart(8, '0') + pad }).then(() => { ackedAt[i] = performance.now(); }));
  }
  await Promise.all(sends);
  const timeout = setTimeout(() => finish(), 30_000);
  await done;
  clearTimeout(timeout);
  const secs = (performance.now() - t0) / 1000;
  await probe.close();
  await Promise.all(consumers.map((w) => w.close()));
  await Promise.all(running);
  const fromAck: number[] = [];
  const fromSend: number[] = [];
  for (let i = 0; i < LATENCY_JOBS; i++) {
    if (!startedAt[i]) continue;
    fromAck.push(startedAt[i] - ackedAt[i]);
    fromSend.push(startedAt[i] - sentAt[i]);
  }
  const r = {
    workers, rate: RATE, jobs: LATENCY_JOBS, handled: fromAck.length, achievedRate: Math.round(LATENCY_JOBS / secs),
    fromAckMs: { p50: pct(fromAck, 50), p99: pct(fromAck, 99), max: pct(fromAck, 100) },
    fromSendMs: { p50: pct(fromSend, 50), p99: pct(fromSend, 99), max: pct(fromSend, 100) },
    startedBeforeAck: fromAck.filter((x) => x < 0).length, load: load(),
  };
  say(`pick-up latency (${workers} idle workers, ${RATE} jobs/s, ${LATENCY_JOBS} jobs, load ${r.load}): produce ack -> handler start p50 ${r.fromAckMs.p50} ms, p99 ${r.fromAckMs.p99} ms, max ${r.fromAckMs.max} ms; ` +
    `send -> handler start p50 ${r.fromSendMs.p50} ms, p99 ${r.fromSendMs.p99} ms; ${r.startedBeforeAck} handlers started before their produce ack arrived`);
  return r;
}

/** A raw holder (no client lock bookkeeping) acquires the one job of a fresh group and sits on it; a QueueConsumer of the same group waits for it. */
async function redelivery(url: string, admin: Admin) {
  await admin.createTopic('bench-redeliver', 1);
  const p2 = new Producer({ url, acks: 'all' });
  await p2.send('bench-redeliver', [{ value: 'r' }]);
  await p2.close();
  const delays: number[] = [];
  const settings = { visibilityTimeoutMs: VISIBILITY, retryBackoffMs: 0, retryBackoffMaxMs: 0 };
  const holder = new Connection(url);
  for (let i = 0; i < 5; i++) {
    const groupId = `redeliver-${i}`;
    const res = await holder.request(Api.ShareAcquire, { groupId, workerId: 'holder', topics: ['bench-redeliver'], maxRecords: 1, maxWaitMs: 1000, settings });
    const acquiredAt = Date.now();
    if (res.partitions[0]?.acquired.length !== 1) throw new Error('holder acquired nothing');
    const other = new QueueConsumer({ url, groupId, topics: 'bench-redeliver', concurrency: 1, maxWaitMs: 2 * VISIBILITY });
    const again = (await other[Symbol.asyncIterator]().next()).value as Job;
    delays.push(Date.now() - acquiredAt);
    if (again.deliveryCount !== 2) throw new Error(`expected a redelivery, got delivery ${again.deliveryCount}`);
    await again.ack();
    await other.close();
  }
  await holder.close();
  const extra = delays.map((d) => d - VISIBILITY);
  say(`redelivery after lock expiry (visibility ${VISIBILITY} ms): delays ${delays.join(', ')} ms; ` +
    `median ${median(delays)} ms = timeout + ${median(extra)} ms (max + ${Math.max(...extra)} ms)`);
  return { visibilityMs: VISIBILITY, delaysMs: delays };
}

async function main(): Promise<void> {
  const nodeArgs = [
    ...values['broker-node-args'].split(' ').filter(Boolean),
    ...(values['broker-cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['broker-cpu-prof']] : []),
  ];
  const broker = await startBroker(undefined, [], nodeArgs, values['broker-output']);
  // A SIGTERM to this process alone (bench/workqueue.ts stopping, `timeout`) would leave the
  // broker running: stop it, then exit.
  const onSignal = (sig: NodeJS.Signals) => { void broker.stop().finally(() => process.exit(128 + constants.signals[sig])); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const url = broker.url;
  const port = Number(new URL(url).port);
  const httpUrl = `http://127.0.0.1:${port}`;
  const admin = new Admin({ url });
  try {
    const out: Record<string, unknown> = { system: 'sluice', jobs: JOBS, size: SIZE, concurrency: CONCURRENCY, runs: RUNS, warmup: WARMUP, loadBefore: load() };
    if (!values['skip-throughput']) out.throughput = await throughput(url, httpUrl, port, admin, broker.pid);
    if (values.latency) out.latency = await pickUpLatency(url, admin);
    if (!values['skip-redelivery']) out.redelivery = await redelivery(url, admin);
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await admin.close();
    await broker.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
