// scripts/test-files.mjs, the runner of `npm test`: each file's time budget (180 s plus the
// timeouts its tests ask for; under Node 20 one --test-timeout capped whole files) and the
// run's verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: a plain .mjs script without declarations
import { DEFAULT_FILE_MS, fileBudgetMs } from '../scripts/test-files.mjs';

const budget = fileBudgetMs as (source: string) => number;

test('a file whose tests name no timeout keeps 180 s; one whose tests ask for more gets what they ask on top', async () => {
  assert.equal(DEFAULT_FILE_MS, 180_000);
  assert.equal(budget("test('a', async () => {});\ntest('b', async () => {});"), 180_000);
  assert.equal(budget("test('a', { timeout: 240_000 }, async () => {});\ntest('b', { skip: false, timeout: 60000 }, async () => {});"), 180_000 + 300_000);
  // The file session 12's stall runs cut at 180 s: four tests of 240 s each.
  const src = await readFile(join(import.meta.dirname, 'cluster/idempotent-failover.test.ts'), 'utf8');
  assert.ok(budget(src) >= 180_000 + 4 * 240_000, `idempotent-failover gets ${budget(src)} ms`);
});

test('the run fails, naming the file, when a test of one file fails, and passes when all do', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-test-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ok = join(dir, 'ok.test.mjs');
  const bad = join(dir, 'bad.test.mjs');
  await writeFile(ok, "import { test } from 'node:test';\ntest('fine', () => {});\n");
  await writeFile(bad, "import { test } from 'node:test';\ntest('fine', () => {});\ntest('broken', () => { throw new Error('boom'); });\n");
  const script = join(import.meta.dirname, '../scripts/test-files.mjs');
  // Without this test's NODE_TEST_CONTEXT, which makes node:test's run() refuse to start files.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const run = (files: string[]) => spawnSync(process.execPath, [script, ...files], { encoding: 'utf8', timeout: 120_000, env });

  const passed = run([ok]);
  assert.equal(passed.status, 0, passed.stdout + passed.stderr);
  assert.match(passed.stdout, /1 files: tests 1, suites 0, pass 1, fail 0/);

  const failed = run([ok, bad]);
  assert.equal(failed.status, 1, failed.stdout + failed.stderr);
  assert.match(failed.stdout, /2 files: tests 3, suites 0, pass 2, fail 1/);
  assert.match(failed.stdout, new RegExp(`failed files:\\n  ${bad.replace(/[.]/g, '\\.')}`));
  assert.doesNotMatch(failed.stdout.split('failed files:')[1]!, /ok\.test\.mjs/);
  // The failure's message is repeated after every file's report, beside the summary (a CI log's tail).
  const tail = failed.stdout.slice(failed.stdout.lastIndexOf('\n# failed: '));
  assert.match(tail, /broken/);
  assert.match(tail, /Error: boom/);
  assert.match(tail, /2 files: tests 3/);
});
