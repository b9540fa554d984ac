/**
 * `npm run chaos` arguments (scripts/chaos.ts): an unknown fault, a bad broker count and
 * `--broker-logs` without a report to write them beside are refused by name with exit 2,
 * before anything starts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../integration/cli-entry.js';

function chaos(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/chaos.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

test('an unknown fault and a broker count other than 3 or 5 are refused naming the value', () => {
  const bad = chaos('--faults', 'kill,flood');
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /unknown fault "flood"; faults: kill, pause, cut-etcd, cut-net, kill-etcd, move-leader, reassign, pause-long, cut-etcd-controller, pause-etcd/);
  const four = chaos('--brokers', '4');
  assert.equal(four.status, 2, four.stderr);
  assert.match(four.stderr, /--brokers must be 3 or 5, got 4/);
});

test('--broker-logs without --report is refused: the logs are written beside the report', () => {
  const r = chaos('--broker-logs');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--broker-logs needs --report FILE/);
});
