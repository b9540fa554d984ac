// A sluice command whose stdout reader goes away (`sluice ... | head`): it ends quietly with
// 141 (as a shell reports SIGPIPE) instead of dying on an unhandled EPIPE, and `queue consume`
// gives back what it held, the job whose line failed included, without counting an attempt.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer } from '../../src/client/index.js';
import { runCli, spawnCli, type CliResult } from './cli-process.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sluice = (args: string[]): Promise<CliResult> => runCli(broker.url, args);

test('queue consume whose reader leaves (| head) ends quietly with 141 and gives back what it held, the job it was printing too', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('epipe-q', 1);
  await admin.close();
  // 16 KB jobs: a few fill the pipe, so a write is pending or blocked when the reader goes.
  const big = 'x'.repeat(16_384);
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('epipe-q', Array.from({ length: 20 }, (_, i) => ({ value: `${i} ${big}` })));
  await p.close();
  const c = spawnCli(broker.url, ['queue', 'consume', 'epipe-q', '--group', 'epipe-g', '--concurrency', '10']);
  // The reader takes the first chunk and leaves, as `head -c` does.
  c.proc.stdout.once('data', () => c.proc.stdout.destroy());
  const r = await c.done;
  assert.equal(r.code, 141, `exit ${r.code}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|\n\s+at /, 'no stack trace');
  const d = await sluice(['queue', 'describe', 'epipe-g', '--format', 'json']);
  assert.equal(d.code, 0, d.stderr);
  const desc = JSON.parse(d.stdout) as { acked: number; available: number; inFlight: number; delayed: number; redeliveries: number };
  // Acked: the lines written before the reader left (the pipe's buffer held some it never read).
  assert.ok(desc.acked >= 1 && desc.acked < 20, `acked ${desc.acked}`);
  assert.deepEqual([desc.inFlight, desc.delayed, desc.redeliveries, desc.available], [0, 0, 0, 20 - desc.acked], 'the rest is available at once: given back, not failed');
  const rest = await sluice(['queue', 'consume', 'epipe-q', '--group', 'epipe-g', '--max-messages', String(20 - desc.acked), '--format', 'json']);
  assert.equal(rest.code, 0, rest.stderr);
  const jobs = rest.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; deliveryCount: number });
  assert.equal(jobs.length, 20 - desc.acked);
  assert.deepEqual(jobs.filter((j) => j.deliveryCount !== 1), [], 'nothing the reader never saw counted as an attempt');
});

test('a broker whose stdout reader leaves keeps serving, and says once on stderr that its log lines are dropped', async (t) => {
  const { freePort } = await import('../free-port.js');
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'sluice-epipe-broker-'));
  const port = await freePort();
  const b = spawnCli(undefined, ['broker', '--port', String(port), '--data-dir', dir]);
  t.after(async () => {
    if (b.proc.exitCode === null) { b.proc.kill('SIGKILL'); await b.done; }
    await rm(dir, { recursive: true, force: true });
  });
  // The reader reads up to the "ready" line and leaves, as `| head -c N` would.
  await new Promise<void>((resolve) => {
    const look = () => { if (/"event":"ready"/.test(b.stdout())) { b.proc.stdout.destroy(); resolve(); } else b.proc.stdout.once('data', look); };
    look();
  });
  const noticed = new Promise<void>((resolve) => {
    const look = () => { if (/stdout was closed by its reader/.test(b.stderr())) resolve(); else b.proc.stderr.once('data', look); };
    look();
  });
  const url = `ws://127.0.0.1:${port}`;
  const admin = new Admin({ url });
  t.after(() => admin.close());
  // Each topic created logs a line: the first write after the reader left fails with EPIPE.
  await admin.createTopic('epipe-t1', 1);
  await noticed;
  await admin.createTopic('epipe-t2', 1);
  const names = (await admin.listTopics()).map((x) => x.name).sort();
  assert.deepEqual(names.filter((n) => n.startsWith('epipe-')), ['epipe-t1', 'epipe-t2'], 'the broker still serves');
  assert.equal(b.proc.exitCode, null, 'the broker is still running');
  assert.equal(b.stderr().match(/stdout was closed/g)?.length, 1, `said once: ${b.stderr()}`);
  assert.doesNotMatch(b.stderr(), /Unhandled|\n\s+at /, 'no stack trace');
});
