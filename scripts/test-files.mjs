#!/usr/bin/env node
// Runs test files with node's test runner, each file with its own time budget, a few files at
// a time; scripts/run-tests.mjs starts it (with `--import tsx`, which the runner hands on to
// each file's process) and keeps the whole-run watchdog.
//
//   node --import tsx scripts/test-files.mjs FILE...
//
// Why not one `node --test --test-timeout=N FILE...`: under Node 20 that N bounds each *file*
// (a file runs as one subtest of the run), so a file whose tests ask for more in total (their
// own `timeout` options: 4 x 240 s in test/cluster/idempotent-failover.test.ts) was cut off
// at N under machine stalls. Node's run() takes one timeout per call, so each file gets its
// own call here, with the budget `fileBudgetMs` gives it.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

/** What a file gets for the tests that do not name a timeout: their bound as before. */
export const DEFAULT_FILE_MS = 180_000;

/**
 * The time budget of a test file: DEFAULT_FILE_MS for its tests without a timeout of their own,
 * plus every `timeout: <number>` the file's source names (a test's or a suite's own option; the
 * test itself is held to it by the runner in the file's process). A number named once but used by
 * several tests (a shared options object, a loop) counts once: such files have more slack in
 * DEFAULT_FILE_MS than they need so far. A `timeout` of something else (spawnSync's) counts too,
 * which only loosens a bound. Finite for every file: a hung file ends at its budget.
 */
export function fileBudgetMs(source) {
  let ms = DEFAULT_FILE_MS;
  for (const m of source.matchAll(/\btimeout:\s*([\d_]+)\b/g)) ms += Number(m[1].replaceAll('_', ''));
  return ms;
}

const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

/** Runs `file` within its budget; resolves with its spec report and its counts (the run's closing diagnostics). */
async function runFile(file, forceExit) {
  const budgetMs = fileBudgetMs(readFileSync(file, 'utf8'));
  const started = Date.now();
  const stream = run({ files: [file], timeout: budgetMs, ...(forceExit && { forceExit: true }) });
  const counts = {};
  stream.on('test:diagnostic', (d) => {
    if (d.nesting !== 0) return;
    const m = /^(\w+) ([\d.]+)$/.exec(d.message);
    if (m && COUNTS.includes(m[1])) counts[m[1]] = Number(m[2]);
  });
  let report = '';
  for await (const chunk of stream.compose(spec)) report += chunk;
  return { file, budgetMs, ms: Date.now() - started, report, counts };
}

/**
 * What a failed file's spec report says of its failures, at most `maxLines` lines: the
 * reporter's closing "failing tests:" section (each failed test, its error and stack), or the
 * report's last lines when there is none (a file that did not load, or was cut at its budget).
 */
export function failureDetails(report, maxLines = 60) {
  const at = report.lastIndexOf('failing tests:');
  const lines = (at >= 0 ? report.slice(at) : report).trimEnd().split('\n');
  if (lines.length <= maxLines) return lines.join('\n');
  return at >= 0 ? [...lines.slice(0, maxLines), `... (${lines.length - maxLines} more lines above, in the file's report)`].join('\n') : lines.slice(-maxLines).join('\n');
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node --import tsx scripts/test-files.mjs FILE...');
    process.exit(2);
  }
  const concurrency = Math.max(1, Number(process.env.SLUICE_TEST_CONCURRENCY ?? 3));
  // --test-force-exit arrived in Node 20.14 (run()'s forceExit with it); older 20.x runs without.
  const [major, minor] = process.versions.node.split('.').map(Number);
  const forceExit = major > 20 || minor >= 14;
  const totals = Object.fromEntries(COUNTS.map((k) => [k, 0]));
  const failed = [];
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const r = await runFile(files[next++], forceExit);
      // One file's report at a time, whole, as it ends (the files run side by side).
      process.stdout.write(`\n# ${r.file} (${(r.ms / 1000).toFixed(1)} s of its ${r.budgetMs / 1000} s)\n${r.report}`);
      for (const k of COUNTS) totals[k] += r.counts[k] ?? 0;
      // A file cut at its budget, or one that failed to load, reports no passing count of its own.
      if ((r.counts.fail ?? 0) > 0 || (r.counts.cancelled ?? 0) > 0 || r.counts.tests === undefined) failed.push(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  // The failures again, last: a CI log is often read from its tail (or only its tail is kept),
  // and the failing file's report scrolled past long before the run ended.
  for (const r of failed) process.stdout.write(`\n# failed: ${r.file}\n${failureDetails(r.report)}\n`);
  process.stdout.write(`\n${files.length} files: ${COUNTS.map((k) => `${k} ${totals[k]}`).join(', ')}; ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  if (failed.length) process.stdout.write(`failed files:\n${failed.map((r) => `  ${r.file}`).join('\n')}\n`);
  process.exitCode = failed.length ? 1 : 0;
}

// Imported (for fileBudgetMs), it runs nothing.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
