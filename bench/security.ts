/**
 * What TLS and SCRAM authentication cost (docs/security.md, "What it costs"): produce and
 * replay throughput of `sluice bench` with TLS off/on and auth none/scram, the four
 * combinations interleaved in one run (ABBA-style rotation), a fresh broker per run,
 * medians of RUNS (3). Auth is per connection (one login when it opens), TLS per byte.
 *
 *   node --import tsx bench/security.ts                  # -n 300000, 3 runs
 *   N=100000 RUNS=5 node --import tsx bench/security.ts
 *
 * Prints per-run rows on stderr and, on stdout, a JSON line per variant with the medians
 * (msgs/s) and the load average at the start and the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { benchCli, median, ROOT, startBroker } from './broker-process.js';
import { makePki } from '../test/tls-certs.js';

const N = Number(process.env.N ?? 300_000);
const RUNS = Number(process.env.RUNS ?? 3);
const USER = 'bench';
const PASSWORD = 'bench-Pa55-word';

const pki = makePki();
const ca = pki.ca('bench-ca');
const cert = pki.leaf('bench-broker', ca);

interface Variant { name: string; tls: boolean; auth: boolean }
const variants: Variant[] = [
  { name: 'plain', tls: false, auth: false },
  { name: 'tls', tls: true, auth: false },
  { name: 'auth', tls: false, auth: true },
  { name: 'tls+auth', tls: true, auth: true },
];

/** A data dir holding the bench user (made offline, as the first admin is). */
function dataDirWithUser(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-sec-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'user', 'add', USER, '--password-stdin', '--data-dir', dir],
    { cwd: ROOT, input: `${PASSWORD}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`user add failed: ${r.stderr}`);
  return dir;
}

async function runOnce(v: Variant): Promise<{ produce: number; replay: number }> {
  const dir = v.auth ? dataDirWithUser() : undefined;
  const brokerArgs = [
    // ACLs deny by default with auth on: the bench user is a super user, so the cost measured is the login and the per-request check.
    ...(dir ? ['--data-dir', dir, '--auth', 'scram', '--super-users', USER] : []),
    ...(v.tls ? ['--tls-cert', cert.cert, '--tls-key', cert.key] : []),
  ];
  const clientArgs = [...(v.tls ? ['--ca', ca.cert] : []), ...(v.auth ? ['--user', USER] : [])];
  const b = await startBroker(ROOT, brokerArgs);
  try {
    const url = v.tls ? b.url.replace(/^ws:/, 'wss:') : b.url;
    const produced = await benchCli(['produce', '-b', url, '-t', 'sec', '-n', String(N), ...clientArgs]);
    const replayed = await benchCli(['consume', '-b', url, '-t', 'sec', ...clientArgs]);
    return { produce: produced.msgsPerSec, replay: replayed.msgsPerSec };
  } finally {
    await b.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

process.env.SLUICE_PASSWORD = PASSWORD; // the bench clients' login (--user), inherited
const loadStart = loadavg()[0];
const rows = new Map<string, { produce: number; replay: number }[]>();
try {
  for (let r = 0; r < RUNS; r++) {
    // Rotate the order per run, so no variant always runs first (or last) on a machine whose load drifts.
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      const row = await runOnce(v);
      process.stderr.write(`${v.name} run ${r + 1}: ${JSON.stringify(row)} load ${loadavg()[0].toFixed(1)}\n`);
      rows.set(v.name, [...(rows.get(v.name) ?? []), row]);
    }
  }
} finally {
  pki.remove();
}
const loadEnd = loadavg()[0];
for (const v of variants) {
  const rs = rows.get(v.name) ?? [];
  process.stdout.write(`${JSON.stringify({ variant: v.name, n: N, runs: rs.length, produceMsgsPerSec: Math.round(median(rs.map((x) => x.produce))), replayMsgsPerSec: Math.round(median(rs.map((x) => x.replay))), loadStart: Number(loadStart.toFixed(1)), loadEnd: Number(loadEnd.toFixed(1)) })}\n`);
}
