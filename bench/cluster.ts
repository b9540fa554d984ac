/**
 * The cost of replication (issue 13, "Measure"): bench/compare's workload (one producer
 * process, N = 1,000,000 values of 100 random bytes, one partition; then one consumer
 * replaying all N from offset 0) on
 *   - one broker, single-node mode (replication factor 1), acks=1 and acks=all, as compare.ts;
 *   - three brokers and an etcd (cluster mode), the topic at replication factor 3
 *     (minInsyncReplicas 2), acks=all: every record acknowledged once both followers fetched it;
 * then the RF 3 topic replayed from its leader, and again after the leader's SIGTERM
 * (controlled shutdown: leadership moves to a follower, which serves the second replay).
 * Every run starts fresh processes on new temp data dirs; RUNS (3) rounds, interleaved,
 * medians.
 *
 *   npm run bench:cluster
 *   N=200000 RUNS=1 npm run bench:cluster
 *   SLUICE_ROOTS="before=/work/wt/before,after=." npm run bench:cluster   # A/B of the replication path
 *   CPU_PROF=/tmp/prof npm run bench:cluster   # brokers write .cpuprofile files there (summarize with bench/cpuprofile-summary.ts)
 *
 * Writes bench/results/cluster.json (OUT=... elsewhere).
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT, benchCli, median, startBroker, type BrokerProc } from './broker-process.js';
import { startEtcd } from './etcd-process.js';
import { Admin } from '../src/client/admin.js';
import { machine, versions } from '../src/cli/bench/report.js';

const N = Number(process.env.N ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 3);
const SIZE = 100;
const OUT = process.env.OUT ?? join(ROOT, 'bench/results/cluster.json');
const ROOTS = (process.env.SLUICE_ROOTS ?? `sluice=${ROOT}`).split(',').map((kv) => {
  const [name, path] = kv.split('=');
  return { name, root: resolve(path) };
});
const CPU_PROF = process.env.CPU_PROF;
// A directory per process: under tsx a process has two threads (the loader's hooks run in a
// worker) and each writes a profile; a fixed --cpu-prof-name would let one overwrite the other.
const nodeArgs = (tag: string) => (CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(CPU_PROF, `${tag}-${Date.now()}`)] : []);

/** One figure of one run: msgs/s, and the CPU seconds per million messages of the processes that matter. */
interface Row { msgsPerSec: number; cpuMsPerM: Record<string, number> }

const cpuMsPerM = (seconds: number) => Math.round((seconds * 1e9) / N);

async function singleNode(root: string, acks: string): Promise<Row> {
  const b = await startBroker(root, [], nodeArgs(`single-acks${acks}`));
  try {
    const c0 = b.cpuSeconds();
    const p = await benchCli(['produce', '-b', b.url, '-t', 'rf1', '-n', String(N), '-s', String(SIZE), '-a', acks], root);
    return { msgsPerSec: p.msgsPerSec, cpuMsPerM: { broker: cpuMsPerM(b.cpuSeconds() - c0), client: cpuMsPerM(p.clientCores * p.seconds) } };
  } finally {
    await b.stop();
  }
}

async function leaderOf(urls: string[], topic: string): Promise<number> {
  const admin = new Admin({ brokers: urls });
  try {
    const leader = (await admin.describeTopic(topic)).partitions[0]?.leader;
    if (leader === undefined || leader < 0) throw new Error(`${topic} has no leader`);
    return leader;
  } finally {
    await admin.close();
  }
}

/** Produce RF 3 acks=all, replay from the leader, SIGTERM the leader, replay from the new one. */
async function cluster(root: string): Promise<{ produce: Row; replay: Row; replayMoved: Row }> {
  const etcd = await startEtcd();
  const brokers: BrokerProc[] = [];
  try {
    for (let i = 0; i < 3; i++) brokers.push(await startBroker(root, ['--node-id', String(i), '--etcd', etcd.url], nodeArgs(`broker${i}`)));
    const urls = brokers.map((b) => b.url);
    const topic = 'rf3';
    const admin = new Admin({ brokers: urls });
    try {
      await admin.createTopics([{ name: topic, partitions: 1, replicationFactor: 3 }]);
    } finally {
      await admin.close();
    }
    const leader = await leaderOf(urls, topic);
    process.stderr.write(`RF 3 topic led by broker ${leader} (pid ${brokers[leader].pid})\n`);
    const follower = (leader + 1) % 3;
    const cpu = () => brokers.map((b) => b.cpuSeconds());
    const perM = (a: number[], b: number[]) => ({ leader: cpuMsPerM(b[leader] - a[leader]), follower: cpuMsPerM(b[follower] - a[follower]) });

    const c0 = cpu();
    const p = await benchCli(['produce', '-b', urls.join(','), '-t', topic, '-n', String(N), '-s', String(SIZE), '-a', 'all'], root);
    const c1 = cpu();
    const r = await benchCli(['consume', '-b', urls.join(','), '-t', topic], root);
    const c2 = cpu();
    if (r.messages !== N) throw new Error(`replay read ${r.messages} of ${N}`);

    // Controlled shutdown: stop() is a SIGTERM that returns once the process exited, and a
    // broker exits only after its leaderships moved (or shutdownTimeoutMs passed: checked below).
    await brokers[leader].stop();
    const rest = urls.filter((_, i) => i !== leader);
    const newLeader = await leaderOf(rest, topic);
    if (newLeader === leader) throw new Error(`leadership of ${topic} did not move off broker ${leader}`);
    const c3 = cpu();
    const m = await benchCli(['consume', '-b', rest.join(','), '-t', topic], root);
    const c4 = cpu();
    if (m.messages !== N) throw new Error(`replay after the move read ${m.messages} of ${N}`);
    return {
      produce: { msgsPerSec: p.msgsPerSec, cpuMsPerM: { ...perM(c0, c1), client: cpuMsPerM(p.clientCores * p.seconds) } },
      replay: { msgsPerSec: r.msgsPerSec, cpuMsPerM: { leader: cpuMsPerM(c2[leader] - c1[leader]) } },
      replayMoved: { msgsPerSec: m.msgsPerSec, cpuMsPerM: { leader: cpuMsPerM(c4[newLeader] - c3[newLeader]) } },
    };
  } finally {
    for (const b of brokers) await b.stop().catch(() => {});
    await etcd.stop();
  }
}

const rows = new Map<string, Row[]>();
const add = (key: string, row: Row) => {
  process.stderr.write(`${key}: ${JSON.stringify(row)}\n`);
  if (!rows.has(key)) rows.set(key, []);
  rows.get(key)!.push(row);
};
for (let run = 1; run <= RUNS; run++) {
  process.stderr.write(`--- run ${run} of ${RUNS}\n`);
  for (const { name, root } of run % 2 ? ROOTS : [...ROOTS].reverse()) {
    add(`${name} produce RF 1, acks=1, 1 broker`, await singleNode(root, '1'));
    add(`${name} produce RF 1, acks=all, 1 broker`, await singleNode(root, 'all'));
    const c = await cluster(root);
    add(`${name} produce RF 3, acks=all, 3 brokers`, c.produce);
    add(`${name} replay RF 3 from its leader`, c.replay);
    add(`${name} replay RF 3 from a former follower (after the leader's SIGTERM)`, c.replayMoved);
  }
}

const summary = [...rows.entries()].map(([what, rs]) => {
  const cpuKeys = Object.keys(rs[0].cpuMsPerM);
  return {
    what,
    msgs_s: median(rs.map((r) => r.msgsPerSec)),
    runs: rs.map((r) => r.msgsPerSec),
    cpu_ms_per_1M: Object.fromEntries(cpuKeys.map((k) => [k, median(rs.map((r) => r.cpuMsPerM[k]))])),
  };
});
const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${Math.round(x / 1e3)} K`);
process.stdout.write(`\n| workload (${N.toLocaleString('en')} x ${SIZE} B, 1 partition, medians of ${RUNS}) | msgs/s | single runs | CPU ms per 1 M msgs |\n|---|---:|---|---|\n`);
for (const s of summary) {
  const cpu = Object.entries(s.cpu_ms_per_1M).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(`| ${s.what} | ${fmt(s.msgs_s)} | ${s.runs.map(fmt).join(', ')} | ${cpu} |\n`);
}
writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), machine: machine(), versions: versions(), n: N, size: SIZE, runs: RUNS, results: summary }, null, 2) + '\n');
process.stderr.write(`wrote ${OUT}\n`);
