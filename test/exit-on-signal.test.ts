// A test file ended by the runner's per-test timeout must not leave the processes it started
// running (they held ports and CPU for the rest of a CI run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive } from './process-alive.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/timed-out-file.ts', import.meta.url));

test('a test file ended by --test-timeout kills the processes it started', async () => {
  // Without the runner's NODE_TEST_CONTEXT, or the inner run reports to this one's runner.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const dir = mkdtempSync(join(tmpdir(), 'exit-on-signal-'));
  const pidFile = join(dir, 'pid');
  // 15 s: the fixture must start (tsx) and spawn its child before its test times out, on a
  // machine stalled for seconds.
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=15000', '--test-reporter=tap', FIXTURE],
    { encoding: 'utf8', timeout: 120_000, env: { ...env, PID_FILE: pidFile } });
  let pid = 0;
  try {
    pid = Number(readFileSync(pidFile, 'utf8'));
  } catch {
    assert.fail(`the fixture wrote no pid (it did not start within its timeout?):\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(r.stdout, /test timed out/, 'the fixture\'s test was not ended by the timeout');
  // The kill is sent from the file's exit hook, before the runner returns; allow the
  // signal's delivery a moment on a stalled machine.
  for (const t0 = Date.now(); alive(pid) && Date.now() - t0 < 10_000;) await new Promise((res) => setTimeout(res, 50));
  const left = alive(pid);
  if (left) process.kill(pid, 'SIGKILL');
  assert.equal(left, false, 'the child of a timed-out test file outlived it');
});
