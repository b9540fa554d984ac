/**
 * Sluice next to its peers on the peers' workload (../shared/peers/README.md): one
 * producer process sends N (1,000,000) messages of 100 random bytes, no key, to one
 * partition, with a window of requests in flight; then one consumer process replays all N
 * from the start. Every run starts a fresh broker on a new temp data dir; 3 runs, medians.
 *
 *   node --import tsx bench/compare.ts            # Sluice (acks=1, acks=all) + peers
 *   N=200000 RUNS=3 PEERS="redis" node --import tsx bench/compare.ts
 *   SLUICE_ROOTS="before=/tmp/wt-before,after=." PEERS= node --import tsx bench/compare.ts   # A/B, interleaved
 *
 * Durability, so like is compared with like:
 *   sluice acks=1    appended to the page cache, fsync every log.flushMs = 1000 ms (default)
 *                    ~ Redis appendfsync everysec, JetStream's default file store
 *   sluice acks=all  acknowledged after fsync (group commit)  ~ RabbitMQ quorum/stream confirms
 *
 * The peers run through ../shared/peers/run-peers.sh (PEERS=..., default redis and
 * nats-asyncack, plus rabbitmq-stream/-quorum when RabbitMQ is installed; Kafka cannot run
 * on this machine). The script is run from a copy in $TMPDIR (its own npm clients get
 * installed next to it; the shared folder stays untouched).
 *
 * Writes bench/results/latest.json and bench/results/throughput.svg (msgs/s per system).
 *
 * Then the work-queue section (bench/workqueue.ts: Sluice queue mode, RabbitMQ quorum and
 * classic, NATS JetStream, BullMQ; 40,000 jobs, 4 workers, ack per job; per system one server
 * and one client process, WARMUP warm-up runs then RUNS timed ones: a cold and a warm figure),
 * into latest.json's `workQueue` and bench/results/workqueue.svg; a peer that is not
 * installed is skipped with the reason printed. WORKQUEUE=0 leaves the section out.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ROOT, benchCli, median, startBroker } from './broker-process.js';
import { peersDir } from './peer-servers.js';
import { barChart } from './svg-chart.js';
import { printWorkQueue, runWorkQueue, workQueueChart } from './workqueue.js';
import { machine, versions } from '../src/cli/bench/report.js';

const N = Number(process.env.N ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 3);
const SIZE = 100;
const PEERS_DIR = peersDir(ROOT);
const rabbit = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server');
const PEERS = process.env.PEERS ?? `redis nats-asyncack${rabbit ? ' rabbitmq-stream rabbitmq-quorum' : ''}`;
const ROOTS = (process.env.SLUICE_ROOTS ?? `sluice=${ROOT}`).split(',').map((kv) => {
  const [name, path] = kv.split('=');
  return { name, root: resolve(path) };
});
const ACKS = (process.env.ACKS ?? '1,all').split(',');
const OUT = process.env.OUT ?? join(ROOT, 'bench/results/latest.json');

interface SluiceRun { produce: number; replay: number; brokerCoresProduce: number; brokerCoresReplay: number; clientCoresProduce: number; clientCoresReplay: number }

async function sluiceRun(root: string, acks: string): Promise<SluiceRun> {
  const b = await startBroker(root);
  try {
    const topic = 'compare';
    const c0 = b.cpuSeconds();
    const p = await benchCli(['produce', '-b', b.url, '-t', topic, '-n', String(N), '-s', String(SIZE), '-a', acks], root);
    const c1 = b.cpuSeconds();
    const r = await benchCli(['consume', '-b', b.url, '-t', topic], root);
    const c2 = b.cpuSeconds();
    if (r.messages !== N) throw new Error(`replay read ${r.messages} of ${N}`);
    return {
      produce: p.msgsPerSec, replay: r.msgsPerSec,
      brokerCoresProduce: +((c1 - c0) / p.seconds).toFixed(2), brokerCoresReplay: +((c2 - c1) / r.seconds).toFixed(2),
      clientCoresProduce: p.clientCores, clientCoresReplay: r.clientCores,
    };
  } finally {
    await b.stop();
  }
}

function runPeers(): Promise<Record<string, any>[]> {
  if (!PEERS.trim()) return Promise.resolve([]);
  const copy = join(tmpdir(), 'sluice-peers');
  mkdirSync(copy, { recursive: true });
  cpSync(PEERS_DIR, copy, { recursive: true, filter: (src) => !src.includes('node_modules') });
  return new Promise((res, rej) => {
    const p = spawn('bash', [join(copy, 'run-peers.sh')], {
      env: { ...process.env, PEERS, N: String(N), RUNS: String(RUNS) }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => {
      if (code !== 0) return rej(new Error(`run-peers.sh exited ${code}`));
      res(out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)));
    });
  });
}

const runs = new Map<string, SluiceRun[]>();
for (let r = 1; r <= RUNS; r++) {
  // Interleaved: every variant and acks setting once per round, so drift on a shared
  // machine hits all of them alike.
  for (const { name, root } of ROOTS) {
    for (const acks of ACKS) {
      const key = `${name} acks=${acks}`;
      const one = await sluiceRun(root, acks);
      process.stderr.write(`${key} run ${r}: ${JSON.stringify(one)}\n`);
      if (!runs.has(key)) runs.set(key, []);
      runs.get(key)!.push(one);
    }
  }
}
const sluice = [...runs.entries()].map(([system, rs]) => {
  const med = (k: keyof SluiceRun) => median(rs.map((x) => x[k]));
  return {
    system, n: N, size: SIZE,
    durability: system.includes('acks=all') ? 'acked after fsync (group commit)' : 'acked from page cache, fsync every 1000 ms (log.flushMs)',
    produce_msgs_s: med('produce'), replay_msgs_s: med('replay'),
    produce_runs: rs.map((x) => x.produce), replay_runs: rs.map((x) => x.replay),
    cores: { produce: { client: med('clientCoresProduce'), broker: med('brokerCoresProduce') }, replay: { client: med('clientCoresReplay'), broker: med('brokerCoresReplay') } },
  };
});
for (const s of sluice) process.stderr.write(`${s.system}: produce ${s.produce_msgs_s} msgs/s, replay ${s.replay_msgs_s} msgs/s (medians of ${RUNS})\n`);

const peers = await runPeers();
const DURABILITY: Record<string, string> = {
  redis: 'AOF appendfsync everysec',
  nats: 'JetStream file store (ack from page cache, periodic fsync)',
  'rabbitmq (stream)': 'stream: confirm once written to the segment file (no fsync per confirm)',
  'rabbitmq (quorum)': 'quorum queue: confirm after the Raft WAL is fsynced',
};
const durabilityOf = (name: string) => DURABILITY[name] ?? DURABILITY[name.split(/[- ]/)[0]] ?? '';
interface PeerSystem { produce?: number; replay?: number; client: string; durability: string; runs: Record<string, number[]> }
const peerSystems = new Map<string, PeerSystem>();
for (const p of peers) {
  const wl = String(p.workload);
  const w = wl.split(':')[0];
  const mode = wl.slice(w.length + 1);
  const name = mode ? `${p.peer} (${mode})` : p.peer;
  const e: PeerSystem = peerSystems.get(name) ?? { client: p.client, durability: durabilityOf(name), runs: {} };
  if (w === 'produce') e.produce = p.msgs_per_s;
  if (w === 'replay') e.replay = p.msgs_per_s;
  e.runs[w] = p.runs;
  peerSystems.set(name, e);
}

const workQueue = process.env.WORKQUEUE === '0' ? undefined : await runWorkQueue({ runs: RUNS, peersDir: PEERS_DIR });
if (workQueue) printWorkQueue(workQueue);

const result = {
  date: new Date().toISOString(), machine: machine(), versions: versions(), workload: { n: N, size: SIZE, partitions: 1, runs: RUNS },
  sluice, peers: [...peerSystems.entries()].map(([system, e]) => ({ system, ...e })), peersRaw: peers,
  ...(workQueue && { workQueue }),
  notes: 'Kafka is not run: it needs kafka/lib from Maven, which this machine cannot reach.',
};
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
const groups = [
  ...sluice.map((s) => ({ label: s.system, values: [s.produce_msgs_s, s.replay_msgs_s] })),
  ...[...peerSystems.entries()].map(([system, e]) => ({ label: system, values: [e.produce ?? null, e.replay ?? null] })),
];
writeFileSync(OUT.replace(/\.json$/, '.svg').replace('latest.svg', 'throughput.svg'), barChart(
  `1,000,000 x 100 B, 1 partition: msgs/s (median of ${RUNS}), ${result.date.slice(0, 10)}, ${machine().cpus} cores`,
  ['produce', 'replay'], groups, 'messages per second (higher is better)'));
if (workQueue) writeFileSync(join(dirname(OUT), 'workqueue.svg'), workQueueChart(workQueue, result.date));
process.stdout.write(JSON.stringify({ sluice: sluice.map(({ system, produce_msgs_s, replay_msgs_s }) => ({ system, produce_msgs_s, replay_msgs_s })), peers: result.peers.map(({ system, produce, replay }) => ({ system, produce, replay })), ...(workQueue && { workQueue: workQueue.systems.map(({ system, warm_acked_jobs_s, cold_acked_jobs_s }) => ({ system, warm_acked_jobs_s, cold_acked_jobs_s })) }) }) + '\n');
