// `sluice queue reset-offsets` and QueueAdmin.resetOffsets against the real broker process:
// refused while a worker is in the group, a dry run changes nothing, a reset delivers
// acked records again (count 1) and survives a restart, bad targets are clear errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { Api } from '../../src/protocol/api.js';
import { runCli, type CliResult } from './cli-process.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sluice = (args: string[]): Promise<CliResult> => runCli(broker.url, args);
const T0 = Date.UTC(2026, 0, 1);

/** Takes `n` jobs with one worker, acks them, leaves; returns their offsets and delivery counts. */
async function work(group: string, topic: string, n: number): Promise<{ offset: number; deliveryCount: number }[]> {
  const w = new QueueConsumer({ url: broker.url, groupId: group, topics: topic, concurrency: 10, maxWaitMs: 200 });
  const out: { offset: number; deliveryCount: number }[] = [];
  // Fewer jobs than expected must fail the test, not hang it: close() ends the iteration.
  const guard = setTimeout(() => { void w.close(); }, 15_000);
  try {
    for await (const job of w) {
      out.push({ offset: job.offset, deliveryCount: job.deliveryCount });
      await job.ack();
      if (out.length === n) break;
    }
  } finally {
    clearTimeout(guard);
    await w.close();
  }
  assert.equal(out.length, n, `got ${out.length} of ${n} jobs`);
  return out.sort((a, b) => a.offset - b.offset);
}

test('queue reset-offsets: refused with a worker in the group, dry run, to an offset, to a time; acked jobs come again and the reset survives a crash', async (t) => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('rq', 1);
  await admin.close();
  // Jobs 0-9 an hour before jobs 10-19, so a time picks the second half.
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('rq', Array.from({ length: 10 }, (_, i) => ({ value: `job ${i}`, timestamp: T0 })));
  await p.send('rq', Array.from({ length: 10 }, (_, i) => ({ value: `job ${10 + i}`, timestamp: T0 + 3_600_000 })));
  await p.close();

  // A worker in the group: the reset is refused and nothing moves.
  const w = new QueueConsumer({ url: broker.url, groupId: 'rg', topics: 'rq', concurrency: 20, maxWaitMs: 200 });
  t.after(() => w.close());
  const it = w[Symbol.asyncIterator]();
  for (let i = 0; i < 20; i++) await ((await it.next()).value as Job).ack();
  const busy = await sluice(['queue', 'reset-offsets', 'rg', '--topic', 'rq', '--to-earliest']);
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /NON_EMPTY_GROUP.*1 worker/);
  await w.close();

  const dry = await sluice(['queue', 'reset-offsets', 'rg', '--topic', 'rq', '--to-earliest', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^rq\s+0\s+20\s+0\s*$/m);
  assert.match(dry.stderr, /dry run/);
  const qa = new QueueAdmin({ url: broker.url });
  t.after(() => qa.close());
  assert.equal((await qa.describeGroup('rg')).partitions[0].startOffset, 20, 'a dry run changes nothing');

  const toOffset = await sluice(['queue', 'reset-offsets', 'rg', '--topic', 'rq', '--to-offset', '17']);
  assert.equal(toOffset.code, 0, toOffset.stderr);
  assert.match(toOffset.stdout, /^rq\s+0\s+20\s+17\s*$/m);
  assert.deepEqual(await work('rg', 'rq', 3), [17, 18, 19].map((offset) => ({ offset, deliveryCount: 1 })));

  const toTime = await sluice(['queue', 'reset-offsets', 'rg', '--topic', 'rq', '--to-datetime', new Date(T0 + 1000).toISOString()]);
  assert.equal(toTime.code, 0, toTime.stderr);
  assert.match(toTime.stdout, /^rq\s+0\s+20\s+10\s*$/m);
  // Killed, not stopped: the reset was durable when the CLI got its answer.
  await broker.kill();
  await broker.restart();
  const again = await work('rg', 'rq', 10);
  assert.deepEqual(again.map((j) => j.offset), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'the reset survived the crash');
  assert.ok(again.every((j) => j.deliveryCount === 1));
  const qa2 = new QueueAdmin({ url: broker.url });
  t.after(() => qa2.close());
  const d = await qa2.describeGroup('rg');
  assert.deepEqual([d.partitions[0].startOffset, d.available, d.acked], [20, 0, 33], 'acked keeps counting: 20 + 3 + 10');
});

test('queue reset-offsets: a group can be placed before its first worker; offsets are clamped to the log', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('rq2', 2);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send('rq2', Array.from({ length: 6 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })));
  await p.close();
  const qa = new QueueAdmin({ url: broker.url });
  try {
    const plan = await qa.resetOffsets('fresh', 'rq2', { offset: 99 }, { partitions: [1] });
    assert.deepEqual(plan, [{ topic: 'rq2', partition: 1, from: -1, to: 3 }], 'clamped to the log end');
    const earliest = await qa.resetOffsets('fresh', 'rq2', 'earliest');
    assert.deepEqual(earliest.map((x) => [x.partition, x.from, x.to]), [[0, -1, 0], [1, 3, 0]]);
    assert.equal((await qa.describeGroup('fresh')).available, 6, 'a placed group shows its backlog before any worker came');
    const latest = await qa.resetOffsets('fresh', 'rq2', 'latest');
    assert.deepEqual(latest.map((x) => [x.partition, x.from, x.to]), [[0, 0, 3], [1, 0, 3]]);
    const d = await qa.describeGroup('fresh');
    assert.deepEqual(d.partitions.map((x) => x.startOffset), [3, 3]);
  } finally {
    await qa.close();
  }
});

test('queue reset-offsets: unknown or hostile topics, bad partitions, ill-typed targets and option mistakes are clear errors', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('rq3', 1);
  await admin.close();
  const qa = new QueueAdmin({ url: broker.url });
  try {
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);
    assert.equal(await code(qa.resetOffsets('g3', 'nope', 'earliest')), 'UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(await code(qa.resetOffsets('g3', '../x', 'earliest')), 'INVALID_TOPIC');
    assert.equal(await code(qa.resetOffsets('g3', 'rq3', 'earliest', { partitions: [5] })), 'UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(await code(qa.resetOffsets('g3', '__share_state-0', 'earliest')), 'INVALID_TOPIC', 'internal topics are not queues');
    assert.equal(await code(qa.resetOffsets('g3', 'rq3', 'earliest', { partitions: [] })), 'INVALID_REQUEST');
    assert.equal(await code(qa.resetOffsets('g3', 'rq3', 'earliest', { partitions: [0, 0] })), 'INVALID_REQUEST');
    for (const to of [{ offset: -1 }, { offset: 1.5 }, 'middle', { offset: 1, timestamp: 2 }, null]) {
      assert.equal(await code(qa.conn.request(Api.ShareReset, { groupId: 'g3', topic: 'rq3', to } as never)), 'INVALID_REQUEST', JSON.stringify(to));
    }
    assert.equal(await code(qa.conn.request(Api.ShareReset, { groupId: 'g3', topic: 'rq3', to: 'earliest', partitions: ['0'] } as never)), 'INVALID_REQUEST');
    assert.deepEqual(await qa.listGroups().then((gs) => gs.filter((g) => g === 'g3')), [], 'no failed reset created the group');
  } finally {
    await qa.close();
  }
  const two = await sluice(['queue', 'reset-offsets', 'g3', '--topic', 'rq3', '--to-earliest', '--to-latest']);
  assert.notEqual(two.code, 0);
  assert.match(two.stderr, /exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime$/m);
  const shift = await sluice(['queue', 'reset-offsets', 'g3', '--topic', 'rq3', '--shift-by', '-1']);
  assert.notEqual(shift.code, 0);
  assert.match(shift.stderr, /unknown option '--shift-by'/);
});
