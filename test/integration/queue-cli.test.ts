// `sluice queue consume` and `sluice queue describe` against the real broker process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer } from '../../src/client/index.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

function sluice(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, SLUICE_BROKER: broker.url }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('queue consume prints and acks jobs; a second worker gets the rest; describe shows the counts', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('cli-q', 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('cli-q', Array.from({ length: 8 }, (_, i) => ({ value: `job ${i}` })));
  await p.close();

  const a = await sluice(['queue', 'consume', 'cli-q', '--group', 'cli-g', '--max-messages', '5', '--concurrency', '2', '--format', 'json']);
  assert.equal(a.code, 0, a.stderr);
  const jobs = a.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; value: string; deliveryCount: number });
  assert.deepEqual(jobs.map((j) => j.value), ['job 0', 'job 1', 'job 2', 'job 3', 'job 4']);
  assert.ok(jobs.every((j) => j.deliveryCount === 1));

  // The first worker's unstarted prefetch went back with delay 0: the second sees exactly the rest.
  const b = await sluice(['queue', 'consume', 'cli-q', '--group', 'cli-g', '--max-messages', '3']);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(b.stdout.trim().split('\n'), ['job 5', 'job 6', 'job 7']);

  const d = await sluice(['queue', 'describe', 'cli-g', '--format', 'json']);
  assert.equal(d.code, 0, d.stderr);
  const desc = JSON.parse(d.stdout) as { acked: number; available: number; inFlight: number; deadLettered: number };
  assert.deepEqual([desc.acked, desc.available, desc.inFlight, desc.deadLettered], [8, 0, 0, 0]);

  const t = await sluice(['queue', 'describe']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^GROUP\s+AVAILABLE\s+DELAYED\s+IN FLIGHT\s+ACKED\s+DEAD-LETTERED/m);
  assert.match(t.stdout, /^cli-g\s+0\s+0\s+0\s+8\s+0\s/m);

  const bad = await sluice(['queue', 'describe', 'nope']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /GROUP_ID_NOT_FOUND/);
});
