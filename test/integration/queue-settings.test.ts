// A worker's `settings` on a share group that exists, against the real broker process: the
// broker refuses a worker whose settings differ from the group's (INCONSISTENT_GROUP_PROTOCOL,
// both values and the `sluice queue alter` that changes the group named), instead of ignoring
// them without a word; the group's own settings, or none, join. A worker that joined keeps
// working after an admin altered the group under it, also across a reconnect (its
// membership at the broker ends and starts again). The CLI's side is queue-cli-options.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, SluiceError } from '../../src/client/index.js';
import { fillJobs } from './broker-helpers.js';
import { waitFor } from './group-helpers.js';
import { TcpProxy } from '../tcp-proxy.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

/** The refusal a worker giving visibilityTimeoutMs 20000 (and the group's maxDeliveries) meets on group `g` of visibilityTimeoutMs 10000. */
function refusedFor(g: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, 'INCONSISTENT_GROUP_PROTOCOL', err.message);
    assert.equal(err.retriable, false);
    assert.match(err.message, new RegExp(`share group '${g}' exists with visibilityTimeoutMs 10000 \\(20000 given\\):`));
    assert.doesNotMatch(err.message, /maxDeliveries/, 'a setting given with the group\'s own value is not named');
    assert.match(err.message, new RegExp(`sluice queue alter ${g} --visibility-timeout 20000$`));
    return true;
  };
}

test('a worker whose settings differ from the existing group\'s is refused, naming both values and the alter; run() rejects, a for-await loop throws, close is clean; the group\'s own settings, or none, join', async () => {
  const g = 'qs-refuse';
  await fillJobs(broker.url, 'qs-refuse', 4);
  const qadmin = new QueueAdmin({ url: broker.url });
  const workers: QueueConsumer[] = [];
  const worker = (settings?: ConstructorParameters<typeof QueueConsumer>[0]['settings']) => {
    const w = new QueueConsumer({ url: broker.url, groupId: g, topics: 'qs-refuse', concurrency: 1, maxWaitMs: 200, ...(settings && { settings }) });
    workers.push(w);
    return w;
  };
  try {
    // The first worker creates the group with its settings, takes the jobs and leaves.
    const first = worker({ visibilityTimeoutMs: 10_000, maxDeliveries: 3 });
    const firstJobs: string[] = [];
    const firstRun = first.run((job) => { firstJobs.push(job.value!.toString()); });
    await waitFor('the first worker\'s jobs', () => firstJobs.length === 4, 30_000);
    await first.close();
    await firstRun;
    const producer = new Producer({ url: broker.url, acks: 'all' });
    await producer.send('qs-refuse', [{ value: 'job 4' }, { value: 'job 5' }]);
    await producer.close();

    // Another visibility timeout: refused at its first acquire, before it takes one of the
    // jobs waiting (a worker whose settings were ignored takes one at once: the test fails).
    const other = worker({ visibilityTimeoutMs: 20_000, maxDeliveries: 3 });
    let tookJob!: () => void;
    const took = new Promise<Error>((r) => { tookJob = () => r(new Error('the worker was handed a job')); });
    const outcome = await Promise.race([other.run(() => { tookJob(); }).then(() => new Error('run() resolved'), (err: unknown) => err), took]);
    assert.ok(refusedFor(g)(outcome));
    await other.close();
    // The same in a for-await loop.
    const looped = worker({ visibilityTimeoutMs: 20_000, maxDeliveries: 3 });
    await assert.rejects(async () => {
      for await (const job of looped) throw new Error(`the worker was handed ${job.value!.toString()}`);
    }, refusedFor(g));
    await looped.close();

    // The group's own settings, and no settings at all: both join (the group then lists them).
    const same = worker({ visibilityTimeoutMs: 10_000 });
    const none = worker();
    const failures: unknown[] = [];
    const runs = [same, none].map((w) => w.run((job) => { firstJobs.push(job.value!.toString()); }).catch((err: unknown) => { failures.push(err); }));
    await waitFor('both workers in the group', async () => {
      const ids = (await qadmin.describeGroup(g)).workers.map((w) => w.workerId);
      return ids.includes(same.workerId) && ids.includes(none.workerId);
    }, 30_000, 50);
    const d = await qadmin.describeGroup(g);
    assert.ok(!d.workers.some((w) => w.workerId === other.workerId || w.workerId === looped.workerId), 'a refused worker never joined');
    assert.equal(d.settings.visibilityTimeoutMs, 10_000, 'the group keeps its settings');
    assert.deepEqual(failures, []);
    await waitFor('the two jobs left', () => firstJobs.length >= 6, 30_000);
    for (const w of [same, none]) await w.close();
    await Promise.all(runs);
    assert.deepEqual(failures, []);
  } finally {
    for (const w of workers) await w.close();
    await qadmin.close();
  }
});

test('a worker keeps working after `queue alter` changed the setting it gave, also after its connection dropped and it joined again', async () => {
  const g = 'qs-altered';
  const topic = 'qs-altered';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const qadmin = new QueueAdmin({ url: broker.url });
  const producer = new Producer({ url: broker.url, acks: 'all' });
  const proxy = await TcpProxy.start(broker.port);
  const w = new QueueConsumer({
    url: `ws://127.0.0.1:${proxy.port}`, groupId: g, topics: topic, concurrency: 2, maxWaitMs: 200, retryBackoffMs: 100,
    settings: { visibilityTimeoutMs: 10_000 },
  });
  const seen = new Set<string>();
  let failure: unknown;
  const run = w.run((job) => { seen.add(job.value!.toString()); }).catch((err: unknown) => { failure = err; });
  try {
    await producer.send(topic, { value: 'before' });
    await waitFor('the job sent before the alter', () => seen.has('before'), 30_000);
    await qadmin.alterGroup(g, { visibilityTimeoutMs: 15_000 });
    await producer.send(topic, { value: 'after the alter' });
    await waitFor('the job sent after the alter', () => seen.has('after the alter') || failure !== undefined, 30_000);
    assert.equal(failure, undefined);

    // The connection drops: the broker drops the worker from the group; it comes back and joins again.
    proxy.cut();
    await waitFor('the worker out of the group', async () => (await qadmin.describeGroup(g)).workers.length === 0, 30_000, 50);
    proxy.restore();
    await producer.send(topic, { value: 'after the reconnect' });
    await waitFor('the job sent after the reconnect', () => seen.has('after the reconnect') || failure !== undefined, 60_000);
    assert.equal(failure, undefined);
    assert.equal((await qadmin.describeGroup(g)).settings.visibilityTimeoutMs, 15_000, 'the worker\'s settings did not undo the alter');
  } finally {
    await w.close();
    await run;
    await producer.close();
    await qadmin.close();
    await proxy.close();
  }
});
