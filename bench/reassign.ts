/**
 * Reassigning a big partition (issue 14, "Measure"; docs/cluster.md "Moving data between
 * brokers"): etcd and RF + 1 broker processes, one topic of one partition at replication
 * factor RF (default 2) on RF of them, filled with SIZE_MB of random 1 KB values
 * (`sluice bench produce`, acks=all; random, so nothing on the path profits from repetition),
 * then reassigned so that the broker holding no replica replaces the follower: the leader keeps
 * leading and serves the whole log to the new replica. Timed from the reassignment request
 * until Metadata shows the target replicas, all in the ISR, and no reassignment running (polled
 * every 100 ms). Done without a throttle and with `reassignmentThrottleBytesPerSec` = THROTTLE
 * (a broker setting, so each variant starts fresh processes), RUNS rounds, interleaved, medians.
 *
 *   npm run bench:reassign                         # 1 GB; unthrottled and at 50 MiB/s; 1 round
 *   SIZE_MB=200 npm run bench:reassign             # a quick check
 *   SIZE_MB=1024 RUNS=3 THROTTLE=20971520 npm run bench:reassign
 *   THROTTLE=0 npm run bench:reassign              # unthrottled only
 *   RF=3 npm run bench:reassign                    # 4 brokers, one of the two followers replaced
 *
 * Writes bench/results/reassign.json (OUT=... elsewhere).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, benchCli, median, startBroker, type BrokerProc } from './broker-process.js';
import { startEtcd } from './etcd-process.js';
import { Admin } from '../src/client/admin.js';
import { Connection } from '../src/client/connection.js';
import { Api, type MetadataResponse, type PartitionMetadata } from '../src/protocol/api.js';
import { machine, versions } from '../src/cli/bench/report.js';

const SIZE_MB = Number(process.env.SIZE_MB ?? 1024);
const RUNS = Number(process.env.RUNS ?? 1);
const THROTTLE = Number(process.env.THROTTLE ?? 50 * 1024 * 1024);
const RF = Number(process.env.RF ?? 2);
const VALUE_BYTES = 1024;
/** How long one move may take before the bench gives up (a 1 GB move at 1 MB/s would be 17 min). */
const MOVE_TIMEOUT_MS = Number(process.env.MOVE_TIMEOUT_MS ?? 30 * 60_000);
const OUT = process.env.OUT ?? join(ROOT, 'bench/results/reassign.json');
const TOPIC = 'reassign-bench';
const MESSAGES = Math.round((SIZE_MB * 1024 * 1024) / VALUE_BYTES);

for (const [name, v, ok] of [['SIZE_MB', SIZE_MB, SIZE_MB > 0], ['RUNS', RUNS, Number.isInteger(RUNS) && RUNS > 0],
  ['THROTTLE', THROTTLE, Number.isInteger(THROTTLE) && THROTTLE >= 0], ['RF', RF, Number.isInteger(RF) && RF >= 1 && RF <= 5]] as const) {
  if (!ok) {
    process.stderr.write(`bench:reassign: ${name} must be ${name === 'SIZE_MB' ? 'a positive number' : name === 'RF' ? 'an integer from 1 to 5' : 'a non-negative integer'}, got ${process.env[name]} (${v})\n`);
    process.exit(2);
  }
}

interface Move { throttle: number; bytes: number; seconds: number; mbPerSec: number; fillSeconds: number; from: number[]; to: number[] }

async function oneMove(throttle: number): Promise<Move> {
  const etcd = await startEtcd();
  const brokers: BrokerProc[] = [];
  let conn: Connection | undefined;
  try {
    for (let id = 1; id <= RF + 1; id++) {
      brokers.push(await startBroker(ROOT, ['--node-id', String(id), '--etcd', etcd.url, '--reassignment-throttle-bytes-per-sec', String(throttle)]));
    }
    // Metadata from the first broker, which no step of the bench stops.
    const c = conn = new Connection(brokers[0]!.url, { requestTimeoutMs: 30_000 });
    await untilMetadata(c, (md) => (md.brokers?.length ?? 0) === RF + 1, 60_000, `${RF + 1} brokers registered`);
    const a = new Admin({ brokers: brokers.map((b) => b.url), requestTimeoutMs: 30_000 });
    try {
      await a.createTopics([{ name: TOPIC, partitions: 1, replicationFactor: RF, config: { minInsyncReplicas: Math.min(2, RF) } }]);
    } finally {
      await a.close();
    }
    const from = (await untilPlaced(c, (p) => p.leader >= 0 && p.isr.length === RF, 60_000)).replicas;
    const t0 = performance.now();
    await benchCli(['produce', '-b', brokers.map((b) => b.url).join(','), '-t', TOPIC, '-n', String(MESSAGES), '-s', String(VALUE_BYTES), '-a', 'all', '--keep']);
    const fillSeconds = (performance.now() - t0) / 1000;
    const { leader } = await untilPlaced(c, (p) => p.leader >= 0, 60_000);
    // DescribeTopics answers with the answering broker's own log: ask the leader.
    const b = new Admin({ brokers: [brokers[leader - 1]!.url], requestTimeoutMs: 30_000 });
    try {
      const bytes = (await b.describeTopic(TOPIC)).partitions[0]!.sizeBytes;
      // The broker with no replica replaces the last follower; the leader stays first.
      const newcomer = Array.from({ length: RF + 1 }, (_, i) => i + 1).find((n) => !from.includes(n))!;
      const follower = [...from].reverse().find((n) => n !== leader)!;
      const to = RF === 1 ? [newcomer] : [leader, ...from.filter((n) => n !== leader && n !== follower), newcomer];
      process.stderr.write(`throttle ${throttle || 'none'}: ${(bytes / 1e6).toFixed(0)} MB on ${from.join(',')} (leader ${leader}, filled in ${fillSeconds.toFixed(1)} s); reassigning to ${to.join(',')}\n`);
      const started = performance.now();
      await b.reassignPartitions([{ topic: TOPIC, partition: 0, replicas: to }]);
      await untilPlaced(c, (p) => p.replicas.join(',') === to.join(',') && p.isr.length === to.length && !p.addingReplicas?.length && !p.removingReplicas?.length, MOVE_TIMEOUT_MS);
      const seconds = (performance.now() - started) / 1000;
      const move = { throttle, bytes, seconds: round(seconds, 2), mbPerSec: round(bytes / 1e6 / seconds, 1), fillSeconds: round(fillSeconds, 1), from, to };
      process.stderr.write(`  moved in ${move.seconds} s: ${move.mbPerSec} MB/s${throttle ? ` (throttle ${(throttle / 1e6).toFixed(1)} MB/s)` : ''}\n`);
      return move;
    } finally {
      await b.close();
    }
  } finally {
    await conn?.close().catch(() => {});
    for (const br of brokers) await br.stop().catch(() => {});
    await etcd.stop();
  }
}

/** Polls Metadata (of the topic) every 100 ms until `ok`. */
async function untilMetadata(c: Connection, ok: (md: MetadataResponse) => boolean, timeoutMs: number, what: string): Promise<MetadataResponse> {
  const deadline = Date.now() + timeoutMs;
  let last: MetadataResponse | undefined;
  for (;;) {
    last = await c.request(Api.Metadata, { topics: [TOPIC] }).catch(() => undefined);
    if (last && ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`not ${what} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Partition 0 of the topic once it satisfies `ok`. */
async function untilPlaced(c: Connection, ok: (p: PartitionMetadata) => boolean, timeoutMs: number): Promise<PartitionMetadata> {
  const md = await untilMetadata(c, (m) => { const p = m.topics[0]?.partitionInfo?.[0]; return p !== undefined && ok(p); }, timeoutMs, `${TOPIC}-0 placed as expected`);
  return md.topics[0]!.partitionInfo![0]!;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

const variants = THROTTLE > 0 ? [0, THROTTLE] : [0];
const moves = new Map<number, Move[]>(variants.map((v) => [v, []]));
for (let run = 1; run <= RUNS; run++) {
  process.stderr.write(`--- run ${run} of ${RUNS}: ${SIZE_MB} MB (${MESSAGES.toLocaleString('en')} x ${VALUE_BYTES} B random values), RF ${RF}\n`);
  for (const v of run % 2 ? variants : [...variants].reverse()) moves.get(v)!.push(await oneMove(v));
}

const results = variants.map((v) => {
  const ms = moves.get(v)!;
  return {
    what: v ? `throttled at ${v} B/s` : 'unthrottled',
    throttleBytesPerSec: v,
    seconds: median(ms.map((m) => m.seconds)),
    mbPerSec: median(ms.map((m) => m.mbPerSec)),
    runs: ms,
  };
});
process.stdout.write(`\n| reassigning one ${SIZE_MB} MB partition (RF ${RF}, a follower replaced), medians of ${RUNS} | seconds | MB/s |\n|---|---:|---:|\n`);
for (const r of results) process.stdout.write(`| ${r.what} | ${r.seconds} | ${r.mbPerSec} |\n`);
writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), machine: machine(), versions: versions(), sizeMb: SIZE_MB, valueBytes: VALUE_BYTES, rf: RF, runs: RUNS, results }, null, 2) + '\n');
process.stderr.write(`wrote ${OUT}\n`);
