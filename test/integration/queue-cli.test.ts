// `sluice queue consume`, `describe` and `delete` against the real broker process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { runCli, spawnCli, type CliResult } from './cli-process.js';
import { waitFor } from './group-helpers.js';
import { fillJobs as fillJobsAt } from './broker-helpers.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sluice = (args: string[]): Promise<CliResult> => runCli(broker.url, args);

/**
 * A group's counts, read in this process: for the checks between CLI runs of the tests that
 * are not about `queue describe` (the first test checks what that command prints). Each CLI
 * run is a process start, seconds on a loaded machine, and these checks were half of them.
 */
async function countsOf(group: string): Promise<{ acked: number; available: number; inFlight: number; delayed: number; deadLettered: number; redeliveries: number }> {
  const qa = new QueueAdmin({ url: broker.url });
  try {
    const d = await qa.describeGroup(group);
    return { acked: d.acked, available: d.available, inFlight: d.inFlight, delayed: d.delayed, deadLettered: d.deadLettered, redeliveries: d.redeliveries };
  } finally {
    await qa.close();
  }
}

/** A new one-partition topic holding jobs `job 0` .. `job n-1`. */
const fillJobs = (topic: string, n: number) => fillJobsAt(broker.url, topic, n);

test('queue consume prints and acks jobs; a second worker gets the rest; describe shows the counts', async () => {
  await fillJobs('cli-q', 8);

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

test('queue delete: refused while a worker is in the group; afterwards the group is gone, also after a restart, and starts over', async (t) => {
  await fillJobs('del-q', 5);

  const w = new QueueConsumer({ url: broker.url, groupId: 'del-g', topics: 'del-q', concurrency: 5, maxWaitMs: 200 });
  t.after(() => w.close());
  const it = w[Symbol.asyncIterator]();
  for (let i = 0; i < 5; i++) await ((await it.next()).value as Job).ack();

  const busy = await sluice(['queue', 'delete', 'del-g']);
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /NON_EMPTY_GROUP.*1 worker/);
  await w.close();

  const del = await sluice(['queue', 'delete', 'del-g']);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stderr, /deleted share group 'del-g'/);
  const gone = await sluice(['queue', 'describe', 'del-g']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /GROUP_ID_NOT_FOUND/);
  const twice = await sluice(['queue', 'delete', 'del-g']);
  assert.match(twice.stderr, /GROUP_ID_NOT_FOUND/);

  await broker.restart();
  const qa = new QueueAdmin({ url: broker.url });
  t.after(() => qa.close());
  assert.deepEqual((await qa.listGroups()).filter((g) => g === 'del-g'), [], 'still deleted after a restart');
  // A worker of the same name starts a new group: every job again, first delivery.
  const again = await sluice(['queue', 'consume', 'del-q', '--group', 'del-g', '--max-messages', '5', '--format', 'json']);
  assert.equal(again.code, 0, again.stderr);
  const jobs = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as { value: string; deliveryCount: number });
  assert.deepEqual(jobs.map((j) => j.value), ['job 0', 'job 1', 'job 2', 'job 3', 'job 4']);
  assert.ok(jobs.every((j) => j.deliveryCount === 1));
});

test('six workers each taking 1 of 10 jobs (--max-messages 1) dead-letter nothing; every job reaches a handler on its first delivery', async () => {
  await fillJobs('six-q', 10);
  const describe = async () => {
    const { acked, available, deadLettered, redeliveries, inFlight } = await countsOf('six-g');
    return { acked, available, deadLettered, redeliveries, inFlight };
  };
  const seen: { value: string; deliveryCount: number }[] = [];
  // Default concurrency (10): without the cap each run would prefetch every job.
  for (let i = 0; i < 6; i++) {
    const r = await sluice(['queue', 'consume', 'six-q', '--group', 'six-g', '--max-messages', '1', '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    seen.push(...r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { value: string; deliveryCount: number }));
    // Checked after each run: the next one would wait for ever for jobs that are gone.
    assert.deepEqual(await describe(), { acked: i + 1, available: 9 - i, deadLettered: 0, redeliveries: 0, inFlight: 0 }, `after run ${i + 1}`);
  }
  const rest = await sluice(['queue', 'consume', 'six-q', '--group', 'six-g', '--max-messages', '4', '--format', 'json']);
  assert.equal(rest.code, 0, rest.stderr);
  seen.push(...rest.stdout.trim().split('\n').map((l) => JSON.parse(l) as { value: string; deliveryCount: number }));

  assert.deepEqual(seen.map((j) => j.value).sort(), Array.from({ length: 10 }, (_, i) => `job ${i}`).sort());
  assert.deepEqual(seen.filter((j) => j.deliveryCount !== 1), [], 'a job given back unstarted is not a delivery attempt');
  assert.deepEqual(await describe(), { acked: 10, available: 0, deadLettered: 0, redeliveries: 0, inFlight: 0 });
});

test('SIGTERM of queue consume drains: the job being printed is acked, the prefetched ones go back unstarted, exit 0', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('drain-q', 1);
  await admin.close();
  // 16 KB jobs: once this test stops reading, the CLI blocks writing one (a pipe holds ~64 KB)
  // while it holds the rest of its prefetch.
  const big = 'x'.repeat(16_384);
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('drain-q', Array.from({ length: 20 }, (_, i) => ({ value: `${i} ${big}` })));
  await p.close();
  const c = spawnCli(broker.url, ['queue', 'consume', 'drain-q', '--group', 'drain-g', '--concurrency', '10']);
  c.proc.stdout.once('data', () => c.proc.stdout.pause());
  const describe = () => countsOf('drain-g');
  try {
    // Blocked on a write (a pipe's stdout is synchronous on Linux) while holding jobs.
    await waitFor('the CLI printed and holds jobs', async () => c.stdout().length > 0 && (await describe()).inFlight > 0, 60_000, 100);
    c.proc.kill('SIGTERM');
    c.proc.stdout.resume();
    const r = await c.done;
    assert.equal(r.code, 0, r.stderr);
    const printed = r.stdout.split('\n').filter((l) => l.length > 0).map((l) => Number(l.split(' ')[0]));
    assert.equal(new Set(printed).size, printed.length, 'nothing printed twice');
    const d = await describe();
    assert.deepEqual([d.acked, d.inFlight, d.delayed, d.redeliveries, d.available], [printed.length, 0, 0, 0, 20 - printed.length],
      `printed ${printed.length}: every printed job acked, the rest available at once`);
    const rest = await sluice(['queue', 'consume', 'drain-q', '--group', 'drain-g', '--max-messages', String(20 - printed.length), '--format', 'json']);
    assert.equal(rest.code, 0, rest.stderr);
    const jobs = rest.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; deliveryCount: number });
    assert.deepEqual(jobs.filter((j) => j.deliveryCount !== 1), [], 'given back unstarted: no attempt counted');
    assert.deepEqual([...printed, ...jobs.map((j) => j.offset)].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  } finally {
    c.proc.kill('SIGKILL');
  }
});
