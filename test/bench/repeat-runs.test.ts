// bench/peers/repeat-runs.mjs: bench:workqueue's warm figures for the peers rest on it running a
// script's whole workload again, COUNT times, one after the other, in one process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WRAPPER = fileURLToPath(new URL('../../bench/peers/repeat-runs.mjs', import.meta.url));

/** Writes `body` as an ES module script in a temp dir, runs the wrapper on it, returns its output. */
function repeat(body: string, count: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-repeat-runs-'));
  try {
    const script = join(dir, 'workload.mjs');
    writeFileSync(script, body);
    const r = spawnSync(process.execPath, [WRAPPER, script, count], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
    return { status: r.status, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A script shaped like the peers' ones: top-level await, one JSON line per run.
const WORKLOAD = `
globalThis.evaluations = (globalThis.evaluations ?? 0) + 1;
const n = globalThis.evaluations;
console.log('start ' + n);
await new Promise((r) => setTimeout(r, 5));
if (process.env.FAIL_AT === String(n)) throw new Error('run ' + n + ' failed');
console.log(JSON.stringify({ pid: process.pid, run: n, acked_jobs_s: 1000 * n }));
`;

test('the script runs COUNT times in one process, each run evaluated afresh and finished before the next starts', () => {
  const r = repeat(WORKLOAD, '3');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.lines.map((l) => (l.startsWith('{') ? `run ${JSON.parse(l).run}` : l)), ['start 1', 'run 1', 'start 2', 'run 2', 'start 3', 'run 3']);
  const pids = new Set(r.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).pid));
  assert.equal(pids.size, 1, 'every run in the same process');
  assert.ok(!pids.has(process.pid));
});

test('a run that fails stops the process with a failure status, and no later run starts', () => {
  const r = repeat(WORKLOAD, '3', { FAIL_AT: '2' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /run 2 failed/);
  assert.deepEqual(r.lines.map((l) => l.slice(0, 7)), ['start 1', '{"pid":', 'start 2']);
});

test('a COUNT that is not a whole number >= 1 is refused naming the usage, and the script never runs', () => {
  for (const bad of ['0', 'three', '1.5']) {
    const r = repeat(WORKLOAD, bad);
    assert.equal(r.status, 2, bad);
    assert.match(r.stderr, /usage: node repeat-runs\.mjs SCRIPT COUNT/);
    assert.deepEqual(r.lines, []);
  }
});
