/**
 * Fault injection against a real cluster, Jepsen-style (scripts/chaos/, docs/cluster.md
 * "Fault-injection harness"):
 *
 *   npm run chaos -- --duration 300 --seed 7 [--brokers 3|5]
 *        [--faults kill,pause,cut-etcd,cut-net,kill-etcd,move-leader,reassign,pause-long,cut-etcd-controller,pause-etcd] [--target-coordinator]
 *        [--workloads produce,group,queue] [--report FILE] [--history] [--broker-logs]
 *
 * Builds dist/ first (the brokers run the compiled CLI, as under npm test), runs one seeded
 * run (run-chaos.ts), prints progress on stderr and the summary line on stdout, writes the
 * JSON report to --report (with the full history when --history). Exit 0 with no anomaly,
 * 1 with any, 2 for bad arguments.
 */
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/integration/cli-entry.js';
import { findBinary } from '../test/external-tool.js';
import { DEFAULTS, runChaos, type Workload } from './chaos/run-chaos.js';
import { FAULT_KINDS, type FaultKind } from './chaos/nemesis.js';

const USAGE = 'usage: npm run chaos -- [--duration S] [--seed N] [--brokers 3|5] [--faults kill,pause,cut-etcd,cut-net,kill-etcd,move-leader,reassign,pause-long,cut-etcd-controller,pause-etcd] '
  + '[--target-coordinator] [--workloads produce,group,queue] [--quiet S] [--session-ttl-ms MS] [--report FILE] [--history] [--broker-logs]';

function fail(msg: string): never {
  console.error(`chaos: ${msg}\n${USAGE}`);
  process.exit(2);
}

const { values: a } = parseArgs({
  options: {
    duration: { type: 'string', default: String(DEFAULTS.durationS) },
    seed: { type: 'string' },
    brokers: { type: 'string', default: String(DEFAULTS.brokers) },
    faults: { type: 'string', default: DEFAULTS.faults.join(',') },
    'target-coordinator': { type: 'boolean', default: false },
    workloads: { type: 'string', default: DEFAULTS.workloads.join(',') },
    quiet: { type: 'string' },
    'session-ttl-ms': { type: 'string', default: String(DEFAULTS.sessionTtlMs) },
    report: { type: 'string' },
    history: { type: 'boolean', default: false },
    'broker-logs': { type: 'boolean', default: false },
  },
});

const durationS = Number(a.duration);
// Default: 15 s fault-free at the end, or a quarter of a short run.
const quietS = a.quiet === undefined ? Math.min(DEFAULTS.quietS, durationS / 4) : Number(a.quiet);
const brokers = Number(a.brokers);
const seed = a.seed === undefined ? randomInt(2 ** 31) : Number(a.seed);
const sessionTtlMs = Number(a['session-ttl-ms']);
if (!(durationS > 0)) fail(`--duration must be a positive number of seconds, got ${a.duration}`);
if (!(quietS >= 0 && quietS < durationS)) fail(`--quiet must be at least 0 and below --duration, got ${a.quiet}`);
if (brokers !== 3 && brokers !== 5) fail(`--brokers must be 3 or 5, got ${a.brokers}`);
if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got ${a.seed}`);
if (!Number.isInteger(sessionTtlMs) || sessionTtlMs < 1000) fail(`--session-ttl-ms must be an integer >= 1000, got ${a['session-ttl-ms']}`);
const faults = a.faults === '' || a.faults === 'none' ? [] : a.faults.split(',');
for (const f of faults) {
  if (!(FAULT_KINDS as readonly string[]).includes(f)) fail(`unknown fault "${f}"; faults: ${FAULT_KINDS.join(', ')}`);
}
const workloads = a.workloads.split(',');
for (const w of workloads) if (!['produce', 'group', 'queue'].includes(w)) fail(`unknown workload "${w}"; workloads: produce, group, queue`);
if (a['broker-logs'] && !a.report) fail('--broker-logs needs --report FILE (the logs are written beside it)');
if (findBinary('etcd') === undefined) fail('etcd is needed: apt-get install etcd-server (etcd-server 3.4)');

// scripts/build-dist.mjs: safe while another run in this checkout starts brokers from dist/.
const build = spawnSync(process.execPath, [resolve(ROOT, 'scripts/build-dist.mjs')], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('chaos: the build (scripts/build-dist.mjs) failed');
  process.exit(1);
}
process.env.TEST_SLUICE_CLI = resolve(ROOT, 'dist/cli/main.js');
// Ctrl-C: exit, and the cluster helpers' exit hooks kill etcd and the brokers.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

console.error(`chaos: seed ${seed}, ${durationS} s, ${brokers} brokers (replay: npm run chaos -- --seed ${seed} --duration ${durationS} --brokers ${brokers} --faults ${faults.join(',') || 'none'}${a['target-coordinator'] ? ' --target-coordinator' : ''})`);
const report = await runChaos({
  ...DEFAULTS,
  seed, durationS, quietS, brokers, sessionTtlMs,
  faults: faults as FaultKind[],
  targetCoordinator: a['target-coordinator'],
  workloads: workloads as Workload[],
  keepBrokerLogs: a['broker-logs'],
  log: (line) => console.error(`chaos: ${line}`),
});
for (const an of report.anomalies.slice(0, 20)) console.error(`chaos: anomaly ${an.kind} ${JSON.stringify(an.evidence)}`);
if (report.anomalies.length > 20) console.error(`chaos: ... ${report.anomalies.length - 20} more anomalies in the report`);
for (const n of report.notes) console.error(`chaos: note: ${n}`);
if (a.report) {
  const { history, brokerLogs, ...rest } = report;
  writeFileSync(a.report, JSON.stringify(a.history ? { ...rest, history } : rest, null, 2) + '\n');
  console.error(`chaos: report written to ${a.report}${a.history ? ` (with ${history?.length ?? 0} history ops)` : ''}`);
  // With an anomaly (or --broker-logs), the brokers' logs beside it: which broker led or coordinated what, when.
  for (const [node, text] of Object.entries(brokerLogs ?? {})) {
    writeFileSync(`${a.report}.broker-${node}.log`, text);
    console.error(`chaos: broker ${node}'s log written to ${a.report}.broker-${node}.log`);
  }
}
console.log(report.summary);
process.exit(report.anomalies.length === 0 ? 0 : 1);
