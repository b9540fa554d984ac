#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in runner, through tsx.
// Node 20's `--test` does not expand globs, so the list is built here.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = walk('test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Each file runs within its own budget (scripts/test-files.mjs: 180 s plus the timeouts its
// tests ask for), and a file's process is ended once its tests are done (--test-force-exit:
// a test that fails can leave clients open; the harness kills the brokers it started on
// exit). A whole-run watchdog keeps CI bounded regardless. The run gets its own process group
// so the watchdog also ends the brokers it started.
const totalMs = Number(process.env.SLUICE_TEST_TOTAL_TIMEOUT_MS ?? 13 * 60_000);
// Static checks first, on a full run only (a run of chosen files is for quick iteration):
// tsx strips types without checking them, so test/ and bench/ are type-checked here, and the
// linter catches floating promises (a rejection nobody handles), which the compiler cannot.
function step(what, args) {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`run-tests: ${what} failed`);
    process.exit(1);
  }
}
if (filter.length === 0) {
  step('the type check of src/, test/ and bench/ (tsc --noEmit)', ['node_modules/typescript/bin/tsc', '--noEmit']);
  step('the lint (eslint .)', ['node_modules/eslint/bin/eslint.js', '.']);
}
// The brokers and CLIs that integration tests spawn run compiled JS (test/integration/
// cli-entry.ts says why), so compile src/ into dist/ first; a type error fails the run here.
// Through scripts/build-dist.mjs, not tsc straight into dist/: another run in this checkout
// (a test run, chaos, fuzz) may be starting brokers from dist/ meanwhile.
step('the build (scripts/build-dist.mjs)', ['scripts/build-dist.mjs']);
// Three files at a time (SLUICE_TEST_CONCURRENCY): the cluster tests (etcd, broker processes,
// chaos) spend most of their time waiting out lease TTLs, not on the CPU. Two at a time used
// 76 % of a 2-core machine (916 CPU-seconds in a 600 s run) and 777 tests took 698 s, too close
// to the watchdog below. Each test was written to pass on a machine stalled by other work.
const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/test-files.mjs', ...files], {
  stdio: 'inherit',
  detached: true,
  env: { ...process.env, TEST_SLUICE_CLI: resolve('dist/cli/main.js') },
});
const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } };
const watchdog = setTimeout(() => {
  console.error(`run-tests: the test run did not finish within ${totalMs / 1000} s; failing`);
  killGroup();
  process.exit(1);
}, totalMs);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killGroup(); process.exit(130); });
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  process.exit(code ?? (signal ? 1 : 0));
});
