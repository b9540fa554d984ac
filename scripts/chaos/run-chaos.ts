/**
 * One chaos run, Jepsen's shape: start a cluster (chaos-cluster.ts), run the workloads at
 * once (produce-workload.ts, group-workload.ts, queue-workload.ts) while the nemesis
 * (nemesis.ts) injects faults from the seed, heal and keep the workloads running through a
 * quiet period, wait for recovery, stop every broker, read the replicas from disk and check
 * the history against them (checker.ts). Returns the report; the CLI (scripts/chaos.ts) and
 * test/chaos/chaos.test.ts print and judge it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '../../src/client/admin.js';
import { Api } from '../../src/protocol/api.js';
import { until } from '../../test/cluster/cluster-helpers.js';
import { segmentBytes } from '../../test/cluster/fault-helpers.js';
import { startChaosCluster, type ChaosCluster } from './chaos-cluster.js';
import {
  checkCommits, checkConsumed, checkProduce, checkQueue, compareReplicas, countOps, deadLetters, longestUnavailability, records,
  type Anomaly, type LogRecord,
} from './checker.js';
import { GroupWorkload } from './group-workload.js';
import { History, type Op } from './history.js';
import { Nemesis, type FaultKind } from './nemesis.js';
import { ProduceWorkload } from './produce-workload.js';
import { QueueWorkload } from './queue-workload.js';
import { Rng } from './random.js';

export const DATA_TOPIC = 'chaos-data';
export const JOBS_TOPIC = 'chaos-jobs';
/** Where the share group's rejected jobs go (the default dead-letter topic: `<topic>.dlq`, one partition). */
export const DLQ_TOPIC = `${JOBS_TOPIC}.dlq`;
const GROUP = 'chaos-group';
const SHARE_GROUP = 'chaos-queue';
/** Of the workload topics; a `reassign` fault may take a partition to one less and back. */
const REPLICATION_FACTOR = 3;

export type Workload = 'produce' | 'group' | 'queue';

export interface ChaosOptions {
  seed: number;
  /** Seconds of workload: faults first, then `quietS` healed. */
  durationS: number;
  /** Healed seconds at the end of the workload, before the checks. */
  quietS: number;
  brokers: number;
  faults: readonly FaultKind[];
  /**
   * Let broker faults hit the share group's coordinator too (the leader of its `__share_state`
   * partition, found at the start; spared by default, not by npm test's run: see runChaos). The consumer group's
   * coordinator (the leader of its `__consumer_offsets` partition) is a target either way,
   * favoured by pickBroker().
   */
  targetCoordinator: boolean;
  workloads: readonly Workload[];
  sessionTtlMs: number;
  holdMs: readonly [number, number];
  gapMs: readonly [number, number];
  partitions: number;
  producers: number;
  /**
   * reassignmentThrottleBytesPerSec of every broker: a `reassign` fault's copy then takes
   * seconds (a 2 MB partition: about 15 s), so it is still in flight when the next faults come.
   * Above the producers' rate per partition (about 10 kB/s), or an added replica never catches up.
   */
  reassignThrottleBytesPerSec: number;
  /**
   * Keep injecting past `durationS - quietS` until this many faults succeeded, that many of them
   * on the group coordinator's broker, for at most `maxExtraS` more seconds. A loaded machine
   * heals and recovers slowly, so a fixed fault window can hold too few faults to mean
   * anything; npm test's run sets it so that it always tests what it claims.
   */
  minFaults?: { total: number; groupCoordinator: number; maxExtraS: number };
  /**
   * Keep every broker's output in the report even when no anomaly was found: a long
   * unavailability is not an anomaly, but only the brokers' logs say why it lasted.
   */
  keepBrokerLogs?: boolean;
  /** Progress lines (faults, phases); default none. */
  log?: (line: string) => void;
}

export const DEFAULTS: Omit<ChaosOptions, 'seed'> = {
  durationS: 300,
  quietS: 15,
  brokers: 3,
  faults: ['kill', 'pause', 'cut-etcd', 'cut-net', 'move-leader', 'reassign'],
  targetCoordinator: false,
  workloads: ['produce', 'group', 'queue'],
  sessionTtlMs: 6000,
  holdMs: [2000, 10_000],
  gapMs: [2000, 6000],
  partitions: 3,
  producers: 3,
  reassignThrottleBytesPerSec: 131_072,
};

export interface ChaosReport {
  seed: number;
  options: Omit<ChaosOptions, 'log'>;
  startedAt: string;
  elapsedS: number;
  ops: Record<string, { ok: number; fail: number; info: number }>;
  faults: Record<string, number>;
  anomalies: Anomaly[];
  /** Longest gap between acknowledged produces per partition of the data topic. */
  unavailability: Record<string, { ms: number; fromMs: number; toMs: number }>;
  /** Faults (of any kind) that hit the consumer group's coordinator's broker. */
  groupCoordinatorFaults: number;
  /** Phases that ran out of time (recovery, queue drain); a job left unacked is also an anomaly. */
  notes: string[];
  summary: string;
  history?: Op[];
  /** Every broker's output (all its lives) by node id, and etcd's as `etcd`, kept when an anomaly was found (or keepBrokerLogs): who answered what. */
  brokerLogs?: Record<string, string>;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const h = new History((op) => {
    if (op.process === 'nemesis' && op.type !== 'invoke') log(`[${(op.time / 1000).toFixed(1)}s] ${op.f} ${op.type} ${JSON.stringify(op.value ?? '')}${op.error ? ` ${op.error}` : ''}`);
  });
  const rng = new Rng(o.seed);
  const notes: string[] = [];
  const anomalies: Anomaly[] = [];
  const cc = await startChaosCluster({
    brokers: o.brokers, sessionTtlMs: o.sessionTtlMs, args: ['--reassignment-throttle-bytes-per-sec', String(o.reassignThrottleBytesPerSec)],
  });
  try {
    log(`cluster up: etcd ${cc.cluster.etcd.url}, brokers ${cc.bootstrap.join(' ')}`);
    const topics = await createTopics(cc, o);
    const home = cc.bootstrap;
    const coordinator = o.workloads.includes('group') ? await groupCoordinator(cc, GROUP) : undefined;
    // The share group's coordinator (the leader of its `__share_state` partition). It serves
    // jobs only from partitions it holds a replica of, so reassignments never remove it from
    // the jobs topic (pinned), and broker faults spare it unless --target-coordinator (which
    // npm test's run sets: faults on it once found acked jobs handed out again, fixed since by
    // the share service's commit fence and QueueConsumer's drop of jobs prefetched before a
    // move; docs/cluster.md, "Fault-injection harness").
    const shareHome = o.workloads.includes('queue') ? await groupCoordinator(cc, SHARE_GROUP, 'share') : undefined;
    const workerBrokers = shareHome === undefined ? home : [cc.cluster.broker(shareHome).advertisedUrl, ...home.filter((u) => u !== cc.cluster.broker(shareHome).advertisedUrl)];
    const produce = o.workloads.includes('produce')
      ? new ProduceWorkload(h, { brokers: cc.bootstrap, topic: DATA_TOPIC, partitions: o.partitions, producers: o.producers, deliveryTimeoutMs: 30_000 })
      : undefined;
    const group = o.workloads.includes('group')
      ? new GroupWorkload(h, { brokers: home, topic: DATA_TOPIC, groupId: GROUP, members: 3, commitEveryMs: 1000 })
      : undefined;
    const queue = o.workloads.includes('queue')
      ? new QueueWorkload(h, { brokers: cc.bootstrap, workerBrokers, topic: JOBS_TOPIC, groupId: SHARE_GROUP, partitions: 2, workers: 2, enqueueEveryMs: 20, deliveryTimeoutMs: 30_000 })
      : undefined;
    const targets = cc.cluster.brokers.map((b) => b.nodeId).filter((n) => o.targetCoordinator || n !== shareHome);
    const nemesis = new Nemesis(cc, h, rng, {
      kinds: o.faults, targets, topics, holdMs: o.holdMs, gapMs: o.gapMs, recoverTimeoutMs: 90_000, sessionTtlMs: o.sessionTtlMs,
      replicationFactor: REPLICATION_FACTOR,
      ...(group ? { groupId: GROUP } : {}),
      ...(shareHome === undefined ? {} : { pinned: new Map([[JOBS_TOPIC, [shareHome]]]) }),
    });
    log(`group coordinator: ${coordinator === undefined ? '-' : `broker-${coordinator}`}; share group on ${shareHome === undefined ? '-' : `broker-${shareHome}`}`);

    const workStart = h.now();
    produce?.start();
    group?.start();
    queue?.start();
    log(`workloads running: ${o.workloads.join(', ')}; faults: ${o.faults.join(', ') || 'none'} on ${targets.map((t) => `broker-${t}`).join(', ')}`);
    const faultsEnd = Date.now() + Math.max(0, o.durationS - o.quietS) * 1000;
    const nemesisDone = nemesis.run();
    await sleepUntil(faultsEnd);
    if (o.minFaults) await untilFaults(h, o.minFaults, log);
    nemesis.stop();
    await nemesisDone;
    const unrecovered = h.ops.filter((op) => op.f === 'recover' && op.type === 'info').length;
    if (unrecovered > 0) notes.push(`${unrecovered} recovery wait(s) ran out of time: the cluster was not whole again (every broker registered in etcd and in every view, every partition led) within 90 s of a heal`);
    log(`[${(h.now() / 1000).toFixed(1)}s] faults over; quiet for ${o.quietS} s`);
    await new Promise((r) => setTimeout(r, o.quietS * 1000));
    const workEnd = h.now();

    // Bounded: a send that never settles (the producer must settle each within its delivery
    // timeout) is an anomaly, not a run that hangs.
    const stuck = [...(await produce?.stop()) ?? [], ...(await queue?.stopEnqueuing()) ?? []];
    for (const e of stuck) anomalies.push({ kind: 'send-never-settled', evidence: e });
    if (stuck.length > 0) notes.push(`a send never settled: ${stuck.length} still waiting past their delivery timeout + 30 s when the producers stopped`);
    log(`[${(h.now() / 1000).toFixed(1)}s] producers stopped; waiting for every reassignment to finish and every replica in sync`);
    const moved = await nemesis.untilReassigned(120_000);
    if (moved.timeout) notes.push('a reassignment was still running 120 s after the run');
    for (const e of moved.elsewhere) anomalies.push({ kind: 'reassignment-elsewhere', evidence: e });
    if (!(await allInSync(cc, topics, 90_000))) notes.push('not every partition had all replicas in sync within 90 s after the run');
    if (queue && !(await queue.drain(90_000))) notes.push('the queue workers had not settled every enqueued job within 90 s after the run');
    // The dead-letter topic exists once a job was rejected; its copies are compared like the others.
    if (queue && cc.cluster.brokers.some((b) => existsSync(join(b.dataDir, `${DLQ_TOPIC}-0`))) && !(await allInSync(cc, [DLQ_TOPIC], 60_000))) {
      notes.push(`not every replica of ${DLQ_TOPIC} was in sync within 60 s after the drain`);
    }
    await queue?.finalState();
    if (group) await group.readOffsets();
    await group?.stop();
    await queue?.stop();
    if (group) {
      // One more read once no member runs: the final committed offsets.
      const admin = new Admin({ brokers: [...home], requestTimeoutMs: 10_000 });
      await group.readOffsets(admin);
      await admin.close().catch(() => {});
    }

    // etcd dies only by a kill-etcd fault, which restarts it: one found gone here died by itself.
    const etcdProc = cc.cluster.etcd.proc;
    if (etcdProc.exitCode !== null || etcdProc.signalCode !== null) {
      anomalies.push({ kind: 'etcd-exited', evidence: { exitCode: etcdProc.exitCode, signal: etcdProc.signalCode } });
    }
    log(`[${(h.now() / 1000).toFixed(1)}s] stopping the brokers to read their replicas`);
    for (const b of cc.cluster.brokers) await b.stop();
    const logs = new Map<string, Map<number, LogRecord[]>>();
    for (const topic of topics) {
      const perPartition = new Map<number, LogRecord[]>();
      const parts = topic === DATA_TOPIC ? o.partitions : 2;
      for (let p = 0; p < parts; p++) {
        const replicas = cc.cluster.brokers
          .filter((b) => existsSync(join(b.dataDir, `${topic}-${p}`)))
          .map((b) => ({ nodeId: b.nodeId, bytes: segmentBytes(b.dataDir, topic, p) }));
        anomalies.push(...compareReplicas(topic, p, replicas));
        perPartition.set(p, replicas[0] ? records(replicas[0].bytes) : []);
      }
      logs.set(topic, perPartition);
    }
    if (produce) {
      anomalies.push(...checkProduce(h.ops, DATA_TOPIC, logs.get(DATA_TOPIC)!));
    }
    if (group) {
      anomalies.push(...checkConsumed(h.ops, DATA_TOPIC, logs.get(DATA_TOPIC)!));
      anomalies.push(...checkCommits(h.ops));
    }
    if (queue) {
      anomalies.push(...checkProduce(h.ops.filter((op) => op.f === 'enqueue').map((op) => ({ ...op, f: 'produce' })), JOBS_TOPIC, logs.get(JOBS_TOPIC)!));
      const dlqReplicas = cc.cluster.brokers
        .filter((b) => existsSync(join(b.dataDir, `${DLQ_TOPIC}-0`)))
        .map((b) => ({ nodeId: b.nodeId, bytes: segmentBytes(b.dataDir, DLQ_TOPIC, 0) }));
      if (dlqReplicas.length > 0) anomalies.push(...compareReplicas(DLQ_TOPIC, 0, dlqReplicas));
      anomalies.push(...checkQueue(h.ops, dlqReplicas[0] ? deadLetters(dlqReplicas[0].bytes) : []));
      // A job handed out is a read too: it must be in the final log at its offset.
      anomalies.push(...checkConsumed(h.ops.filter((op) => op.f === 'deliver').map((op) => {
        const v = op.value as { topic: string; partition: number; offset: number; value: string };
        return { ...op, f: 'consume', value: { topic: v.topic, partition: v.partition, offsets: [v.offset], values: [v.value] } };
      }), JOBS_TOPIC, logs.get(JOBS_TOPIC)!));
    }
    const report: ChaosReport = {
      seed: o.seed,
      options: withoutLog(o),
      startedAt,
      elapsedS: Math.round(h.now() / 100) / 10,
      ops: countOps(h.ops),
      faults: countFaults(h.ops),
      groupCoordinatorFaults: faultCounts(h).groupCoordinator,
      anomalies,
      unavailability: produce ? longestUnavailability(h.ops, DATA_TOPIC, o.partitions, workStart, workEnd) : {},
      notes,
      summary: '',
      history: h.ops,
      ...(anomalies.length > 0 || o.keepBrokerLogs
        ? { brokerLogs: { ...Object.fromEntries(cc.cluster.brokers.map((b) => [String(b.nodeId), b.logs()])), etcd: cc.cluster.etcd.logs() } }
        : {}),
    };
    report.summary = summaryLine(report);
    return report;
  } finally {
    // Kills whatever still runs (a paused broker too) and etcd, and removes the data dirs.
    await cc.stop();
  }
}

async function createTopics(cc: ChaosCluster, o: ChaosOptions): Promise<string[]> {
  const admin = new Admin({ brokers: [...cc.bootstrap], requestTimeoutMs: 15_000 });
  try {
    const topics: { name: string; partitions: number }[] = [];
    if (o.workloads.includes('produce') || o.workloads.includes('group')) topics.push({ name: DATA_TOPIC, partitions: o.partitions });
    if (o.workloads.includes('queue')) topics.push({ name: JOBS_TOPIC, partitions: 2 });
    await admin.createTopics(topics.map((t) => ({ ...t, replicationFactor: REPLICATION_FACTOR, config: { minInsyncReplicas: 2 } })));
    const names = topics.map((t) => t.name);
    if (!(await allInSync(cc, names, 60_000))) throw new Error(`the topics ${names.join(', ')} did not get all replicas in sync within 60 s`);
    return names;
  } finally {
    await admin.close().catch(() => {});
  }
}

/** Every partition of `topics` has a leader and every replica in its ISR (Metadata of a running broker). */
async function allInSync(cc: ChaosCluster, topics: readonly string[], timeoutMs: number): Promise<boolean> {
  try {
    await until(async () => {
      const md = await cc.cluster.metadata(undefined, [...topics]).catch(() => undefined);
      if (!md || md.topics.length !== topics.length) return undefined;
      const ok = md.topics.every((t) => !t.error && (t.partitionInfo ?? []).length > 0 &&
        t.partitionInfo!.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length));
      return ok ? true : undefined;
    }, timeoutMs, 'every replica in sync');
    return true;
  } catch {
    return false;
  }
}

/** A group's coordinator (FindCoordinator; the first one creates `__consumer_offsets` or `__share_state`, so it may take a while). */
async function groupCoordinator(cc: ChaosCluster, groupId: string, keyType: 'group' | 'share' = 'group'): Promise<number> {
  return until(async () => {
    const r = await cc.cluster.request(1, Api.FindCoordinator, { key: groupId, keyType }).catch(() => undefined);
    return r && r.nodeId >= 0 ? r.nodeId : undefined;
  }, 60_000, `a coordinator for ${groupId}`);
}

function countFaults(ops: readonly Op[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of ops) {
    if (op.f === 'fault' && op.type === 'ok') {
      const k = (op.value as { fault: string }).fault;
      out[k] = (out[k] ?? 0) + 1;
    }
  }
  return out;
}

/** The one line a run ends with: seed, operations, faults, anomalies, longest unavailability. */
export function summaryLine(r: Omit<ChaosReport, 'summary'>): string {
  const ops = Object.entries(r.ops).map(([f, c]) => `${f} ${c.ok}/${c.fail}/${c.info}`).join(', ');
  const faults = (Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', ') || 'none') + (r.groupCoordinatorFaults ? ` (${r.groupCoordinatorFaults} on the group coordinator)` : '');
  const kinds = new Map<string, number>();
  for (const a of r.anomalies) kinds.set(a.kind, (kinds.get(a.kind) ?? 0) + 1);
  const anomalies = r.anomalies.length === 0 ? '0' : `${r.anomalies.length} (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`;
  const worst = Object.entries(r.unavailability).map(([p, u]) => `p${p} ${(u.ms / 1000).toFixed(1)}s`).join(' ');
  return `chaos seed=${r.seed} brokers=${r.options.brokers} ${r.elapsedS}s | ops ok/fail/info: ${ops} | faults: ${faults} | anomalies: ${anomalies} | longest unavailable: ${worst || '-'}${r.notes.length ? ` | notes: ${r.notes.length}` : ''}`;
}

function withoutLog(o: ChaosOptions): Omit<ChaosOptions, 'log'> {
  const { log: _log, ...rest } = o;
  return rest;
}

/** Faults that succeeded so far: all of them, and those on the group coordinator's broker. */
function faultCounts(h: History): { total: number; groupCoordinator: number } {
  const ok = h.ops.filter((op) => op.process === 'nemesis' && op.f === 'fault' && op.type === 'ok');
  return { total: ok.length, groupCoordinator: ok.filter((op) => (op.value as { groupCoordinator?: boolean }).groupCoordinator).length };
}

async function untilFaults(h: History, min: NonNullable<ChaosOptions['minFaults']>, log: (l: string) => void): Promise<void> {
  const deadline = Date.now() + min.maxExtraS * 1000;
  let c = faultCounts(h);
  if (c.total < min.total || c.groupCoordinator < min.groupCoordinator) {
    log(`[${(h.now() / 1000).toFixed(1)}s] ${c.total} faults (${c.groupCoordinator} on the group coordinator) in the window; going on for up to ${min.maxExtraS} s until ${min.total} (${min.groupCoordinator})`);
  }
  while ((c.total < min.total || c.groupCoordinator < min.groupCoordinator) && Date.now() < deadline) {
    // Polls the history the nemesis appends to; a fault takes seconds, so 250 ms costs nothing.
    await new Promise((r) => setTimeout(r, 250));
    c = faultCounts(h);
  }
}

function sleepUntil(t: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
}
