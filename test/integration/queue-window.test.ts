// A share group's maxWindow (docs/queue.md, "Share-partition window") against the real broker:
// set by the worker that creates the group (or `queue consume --max-window`), changed by
// ShareAlter (`QueueAdmin.alterGroup`, `sluice queue alter --max-window`), durable across a
// restart, shown by describe. It bounds how far the group reads past a job still held: with
// offset 0 held, a window of 5 hands out offsets 1..4 and no further.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { waitFor } from './group-helpers.js';
import { runCli } from './cli-process.js';
import { QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { fillJobs } from './broker-helpers.js';

let broker: BrokerHandle;
let qa: QueueAdmin;
const closers: (() => Promise<unknown>)[] = [];
before(async () => {
  broker = await startBroker();
  qa = new QueueAdmin({ url: broker.url });
});
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await qa?.close();
  await broker?.stop();
});

const fill = (topic: string, n: number) => fillJobs(broker.url, topic, n);

test('maxWindow set by the worker that creates the group bounds how far it reads past a held job; ShareAlter changes it, durably', async () => {
  const topic = 'win-jobs';
  const groupId = 'g-win';
  await fill(topic, 20);
  // The holder creates the group with a window of 5 and keeps offset 0, pinning the window's start.
  const holder = new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: 'holder', concurrency: 1, maxWaitMs: 200, settings: { maxWindow: 5 } });
  closers.push(() => holder.close());
  const held = await holder[Symbol.asyncIterator]().next();
  assert.equal((held.value as Job).offset, 0);
  const acked: number[] = [];
  const worker = new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: 'worker', concurrency: 20, maxWaitMs: 200 });
  const run = worker.run(async (job) => { acked.push(job.offset); });
  closers.push(async () => { await worker.close(); await run; });

  await waitFor('offsets 1..4 acked', async () => (await qa.describeGroup(groupId)).acked >= 4, 30_000, 50);
  let d = await qa.describeGroup(groupId);
  // Without the group's own window (the default 10 000) the worker takes all 19 at once.
  assert.deepEqual({ end: d.partitions[0]!.endOffset, acked: d.acked, maxWindow: d.settings.maxWindow }, { end: 5, acked: 4, maxWindow: 5 });

  const altered = await qa.alterGroup(groupId, { maxWindow: 10 });
  assert.equal(altered.maxWindow, 10);
  await waitFor('offsets 5..9 acked', async () => (await qa.describeGroup(groupId)).acked >= 9, 30_000, 50);
  d = await qa.describeGroup(groupId);
  assert.deepEqual({ end: d.partitions[0]!.endOffset, acked: d.acked }, { end: 10, acked: 9 }, 'the raised window, and no further');
  assert.deepEqual(acked.sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9]);

  for (const bad of [0, 1_000_001]) {
    await assert.rejects(qa.alterGroup(groupId, { maxWindow: bad }), (err: Error & { code?: string }) => err.code === 'INVALID_CONFIG' && /maxWindow/.test(err.message) && /1, 1000000/.test(err.message));
  }
  await worker.close();
  await run;
  await holder.close();
  await broker.restart();
  const back = new QueueAdmin({ url: broker.url });
  closers.push(() => back.close());
  assert.equal((await back.describeGroup(groupId)).settings.maxWindow, 10, 'the altered window survives a restart');
});

test('sluice queue consume --max-window creates the group with it; queue alter --max-window changes it (range checked before sending); describe shows it', async () => {
  const topic = 'win-cli';
  await fill(topic, 3);
  const consume = await runCli(broker.url, ['queue', 'consume', topic, '--group', 'g-win-cli', '--max-window', '3', '--max-messages', '1']);
  assert.equal(consume.code, 0, consume.stderr);
  let d = await runCli(broker.url, ['queue', 'describe', 'g-win-cli']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^WINDOW\s+3 records per partition/m);

  const alter = await runCli(broker.url, ['queue', 'alter', 'g-win-cli', '--max-window', '50000']);
  assert.equal(alter.code, 0, alter.stderr);
  assert.match(alter.stderr, /max window 50000/);
  d = await runCli(broker.url, ['queue', 'describe', 'g-win-cli', '--format', 'json']);
  assert.equal((JSON.parse(d.stdout) as { settings: { maxWindow: number } }).settings.maxWindow, 50000);

  for (const bad of ['0', '1000001', 'lots']) {
    const r = await runCli(broker.url, ['queue', 'alter', 'g-win-cli', '--max-window', bad]);
    assert.notEqual(r.code, 0, `--max-window ${bad} accepted`);
    assert.match(r.stderr, /--max-window must be an integer in 1\.\.1000000/);
  }
});
