// Job control against the real broker (issue 15): cancel (by offset and by key), progress as
// the heartbeat that keeps a lock and shows in describe --jobs, and close({ drain }).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { waitFor } from './group-helpers.js';
import { runCli } from './cli-process.js';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';

let broker: BrokerHandle;
let qa: QueueAdmin;
before(async () => {
  broker = await startBroker();
  qa = new QueueAdmin({ url: broker.url });
});
after(async () => {
  await qa?.close();
  await broker?.stop();
});

/** A new one-partition topic holding `values` (with `keys` when given), offsets 0.. in order. */
async function fill(topic: string, values: string[], keys?: string[]): Promise<void> {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, values.map((value, i) => ({ value, ...(keys && { key: keys[i] }) })));
  await p.close();
}

/** A promise and the function that resolves it. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  return { open, opened };
}

/** Works until cancelled (the bound only keeps a broken build from hanging the test). */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    signal.addEventListener('abort', () => resolve(), { once: true });
    setTimeout(resolve, 60_000).unref();
  });
}

const FAST = { retryBackoffMs: 0, retryBackoffMaxMs: 0 };

test('cancel: the held job\'s handler sees its signal abort, a late ack is refused, and neither it nor a job not yet taken is delivered', async () => {
  const topic = 'qj-cancel';
  await fill(topic, ['a', 'b', 'c']);
  const groupId = 'g-cancel';
  const q = new QueueConsumer({ url: broker.url, groupId, topics: topic, concurrency: 1, maxWaitMs: 200, settings: FAST });
  const delivered: number[] = [];
  const aborted: number[] = [];
  let lateAck: unknown;
  const running = gate();
  try {
    const run = q.run(async (job, { signal }) => {
      delivered.push(job.offset);
      if (job.offset !== 0) return;
      running.open();
      await untilAborted(signal);
      if (signal.aborted) aborted.push(job.offset);
      lateAck = await job.ack().then(() => 'acked', (err: unknown) => err);
    });
    await running.opened;
    const res = await qa.cancel(groupId, topic, { partition: 0, offsets: [0, 2] });
    assert.deepEqual(res.map((p) => [p.partition, p.cancelled, p.skipped]), [[0, [{ offset: 0, workerId: q.workerId }, { offset: 2 }], []]]);
    // Offset 1 is the only job left: once it is acked, every record is settled.
    await waitFor('offset 1 acked', async () => (await qa.describeGroup(groupId)).acked === 1, 30_000, 50);
    await waitFor('the handler saw the cancel', () => lateAck !== undefined, 30_000);
    await q.close();
    await run;
    assert.deepEqual(aborted, [0]);
    assert.match(String((lateAck as Error)?.message), /cancelled/, `late ack: ${String(lateAck)}`);
    assert.equal((lateAck as { code?: string }).code, 'INVALID_RECORD_STATE');
    const d = await qa.describeGroup(groupId);
    assert.deepEqual([d.acked, d.cancelled, d.inFlight, d.deadLettered, d.redeliveries], [1, 2, 0, 0, 0]);
    assert.equal(d.partitions[0].startOffset, 3, 'every record settled: nothing can be delivered again');
    assert.deepEqual(delivered, [0, 1]);
    // A second cancel of a settled job says so, and the CLI exits 1 for it.
    const again = await runCli(broker.url, ['queue', 'cancel', groupId, '--topic', topic, '--partition', '0', '--offset', '2']);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stdout, /skipped\s+already settled/);
  } finally {
    running.open();
    await q.close();
  }
});

test('cancel by key cancels the unsettled jobs with that key, held or not, and no other', async () => {
  const topic = 'qj-key';
  await fill(topic, ['a0', 'b1', 'a2', 'c3', 'a4'], ['a', 'b', 'a', 'c', 'a']);
  const groupId = 'g-key';
  const q = new QueueConsumer({ url: broker.url, groupId, topics: topic, concurrency: 1, maxWaitMs: 200, settings: FAST });
  const delivered: number[] = [];
  const first = gate();
  let keyAborted: boolean | undefined;
  try {
    const run = q.run(async (job, { signal }) => {
      delivered.push(job.offset);
      if (job.offset !== 0) return;
      first.open();
      await untilAborted(signal);
      keyAborted = signal.aborted;
    });
    await first.opened;
    const cli = await runCli(broker.url, ['queue', 'cancel', groupId, '--topic', topic, '--key', 'a', '--format', 'json']);
    assert.equal(cli.code, 0, cli.stderr);
    const res = JSON.parse(cli.stdout) as { cancelled: { offset: number; workerId?: string }[] }[];
    assert.deepEqual(res[0].cancelled, [{ offset: 0, workerId: q.workerId }, { offset: 2 }, { offset: 4 }]);
    await waitFor('b1 and c3 acked', async () => (await qa.describeGroup(groupId)).acked === 2, 30_000, 50);
    await q.close();
    await run;
    assert.deepEqual(delivered, [0, 1, 3]);
    assert.equal(keyAborted, true, 'the holder of offset 0 was told');
    const d = await qa.describeGroup(groupId);
    assert.deepEqual([d.cancelled, d.inFlight, d.partitions[0].startOffset], [3, 0, 5]);
  } finally {
    first.open();
    await q.close();
  }
});

test('progress keeps the lock past the visibility timeout and shows in describe --jobs; an oversize one is refused by name', async () => {
  const topic = 'qj-progress';
  await fill(topic, ['long']);
  const groupId = 'g-progress';
  // No automatic renewals: only the progress reports keep the lock. A report every 500 ms
  // against a 6 s lock survives stalls of this process and the broker adding up to 5.5 s
  // (a 3 s lock lost its job under the stall run's 3 s freezes, seeds 1301, 11 and 12).
  const VISIBILITY = 6000;
  const settings = { visibilityTimeoutMs: VISIBILITY, ...FAST };
  const workers = ['a', 'b'].map((w) => new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: w, concurrency: 1, maxWaitMs: 200, settings, extendLocks: false }));
  const deliveries: string[] = [];
  const reported = gate();
  const finish = gate();
  let oversize: unknown;
  try {
    const runs = workers.map((q) => q.run(async (job) => {
      deliveries.push(q.workerId);
      oversize = await job.progress('x'.repeat(2000)).then(() => 'accepted', (err: unknown) => err);
      let pct = 0;
      for (;;) {
        await job.progress({ pct: ++pct });
        reported.open();
        const done = await Promise.race([finish.opened.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 500))]);
        if (done) return;
      }
    }));
    await reported.opened;
    assert.match(String((oversize as Error)?.message), /2002 bytes.*at most 1024.*maxJobProgressBytes/);
    // Well past two visibility timeouts: without the reports the other worker would have it.
    const t0 = Date.now();
    await waitFor('two visibility timeouts of work', () => Date.now() - t0 > 2 * VISIBILITY + 1000, 2 * VISIBILITY + 15_000, 100);
    const d = await qa.describeGroup(groupId, { jobs: 10 });
    assert.equal(d.jobs?.length, 1);
    const j = d.jobs![0];
    assert.deepEqual([j.topic, j.partition, j.offset, j.workerId, j.deliveryCount], [topic, 0, 0, deliveries[0], 1]);
    assert.match(j.progress ?? '', /^\{"pct":\d+\}$/);
    // More than one report went out (a stalled test process sends fewer than one per 500 ms).
    assert.ok(Number(JSON.parse(j.progress!).pct) >= 2, j.progress);
    assert.ok(j.since <= t0 && j.progressAt! > t0, JSON.stringify(j));
    const cli = await runCli(broker.url, ['queue', 'describe', groupId, '--jobs']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`${topic}\\s+0\\s+0\\s+${deliveries[0]}\\s+.*ago\\s+1\\s+\\{"pct":\\d+\\}`));
    finish.open();
    await waitFor('the job acked', async () => (await qa.describeGroup(groupId)).acked === 1, 30_000, 50);
    await Promise.all(workers.map((q) => q.close()));
    await Promise.all(runs);
    assert.deepEqual(deliveries.length, 1, `delivered to ${deliveries.join(', ')}`);
  } finally {
    finish.open();
    await Promise.all(workers.map((q) => q.close()));
  }
});

test('close({ drain }) gives the prefetched jobs to another worker at once, finishes and acks the running one, then leaves', async () => {
  const topic = 'qj-drain';
  await fill(topic, ['j0', 'j1', 'j2', 'j3']);
  const groupId = 'g-drain';
  const a = new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: 'a', concurrency: 4, maxWaitMs: 200, settings: FAST });
  const b = new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: 'b', concurrency: 4, maxWaitMs: 200, settings: FAST });
  const gotB: Job[] = [];
  const working = gate();
  const release = gate();
  let ackedA: unknown;
  try {
    // a: one job at a time; the other three wait in its prefetch.
    const loopA = (async () => {
      for await (const job of a) {
        working.open();
        await release.opened;
        ackedA = await job.ack().then(() => job.offset, (err: unknown) => err);
      }
    })();
    await working.opened;
    await waitFor('a holds all four', () => a.inFlight === 4, 30_000);
    const closing = a.close({ drain: true, timeoutMs: 60_000 });
    const loopB = (async () => {
      for await (const job of b) {
        gotB.push(job);
        await job.ack();
        if (gotB.length === 3) break;
      }
    })();
    // While a's job 0 still runs, b already has the three a never started.
    await waitFor('b got the prefetched jobs', () => gotB.length === 3, 30_000);
    assert.equal(ackedA, undefined, 'a is still working on its job');
    release.open();
    await closing;
    await loopA;
    await loopB;
    assert.equal(ackedA, 0);
    assert.deepEqual(gotB.map((j) => [j.offset, j.deliveryCount]), [[1, 1], [2, 1], [3, 1]]);
    const d = await qa.describeGroup(groupId);
    assert.deepEqual([d.acked, d.inFlight, d.redeliveries], [4, 0, 0]);
    assert.ok(!d.workers.some((w) => w.workerId === 'a'), 'a left');
  } finally {
    release.open();
    await a.close();
    await b.close();
  }
});

test('close({ drain }) waits for run() handlers and acks their successes and releases their failures', async () => {
  const topic = 'qj-drain-run';
  await fill(topic, ['ok', 'fail']);
  const groupId = 'g-drain-run';
  const q = new QueueConsumer({ url: broker.url, groupId, topics: topic, concurrency: 2, maxWaitMs: 200, settings: { ...FAST, retryBackoffMs: 60_000, retryBackoffMaxMs: 60_000 } });
  const started: number[] = [];
  const release = gate();
  try {
    const run = q.run(async (job) => {
      started.push(job.offset);
      await release.opened;
      if (job.value?.toString() === 'fail') throw new Error('handler failed');
    });
    await waitFor('both handlers running', () => started.length === 2, 30_000);
    const closing = q.close({ drain: true, timeoutMs: 60_000 });
    setTimeout(() => release.open(), 300);
    await closing;
    await run;
    const d = await qa.describeGroup(groupId);
    // The failure is one failed attempt in backoff (delayed), not a second: the leave released nothing.
    assert.deepEqual([d.acked, d.inFlight, d.delayed, d.workers.length], [1, 0, 1, 0]);
  } finally {
    release.open();
    await q.close();
  }
});

test('close({ drain }) that times out aborts the running handler\'s signal, run() settles nothing, and the leave releases the job to another worker', async () => {
  const topic = 'qj-drain-timeout';
  await fill(topic, ['stuck']);
  const groupId = 'g-drain-timeout';
  const warnings: string[] = [];
  const note = (_fields: object | string, ...msg: unknown[]) => { warnings.push(String(msg[0])); };
  const logger = { debug() {}, info() {}, warn: note, error: note };
  const a = new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: 'a', concurrency: 1, maxWaitMs: 200, settings: FAST, logger });
  const started = gate();
  let abortReason: unknown;
  try {
    const run = a.run(async (_job, { signal }) => {
      started.open();
      await untilAborted(signal);
      abortReason = signal.aborted ? signal.reason : 'not aborted';
    });
    await started.opened;
    await a.close({ drain: true, timeoutMs: 1000 });
    assert.equal(a.drainLeftRunning, 1);
    // The handler is told at the timeout, not left to finish a job that is no longer its worker's.
    await waitFor('the handler saw its signal abort', () => abortReason !== undefined, 30_000);
    assert.equal((abortReason as { code?: string }).code, 'CLIENT_CLOSED', String(abortReason));
    assert.match(String((abortReason as Error).message), /drain timed out after 1000 ms/);
    await run;
    // run() neither acked nor released the abandoned job (either would fail after the leave).
    assert.deepEqual(warnings.filter((w) => !/^drain: 1 job\(s\) still running after 1000 ms/.test(w)), []);
    const b = new QueueConsumer({ url: broker.url, groupId, topics: topic, workerId: 'b', concurrency: 1, maxWaitMs: 200, settings: FAST });
    try {
      const got: Job[] = [];
      for await (const job of b) {
        got.push(job);
        await job.ack();
        break;
      }
      assert.deepEqual(got.map((j) => [j.offset, j.deliveryCount]), [[0, 2]], 'released by the leave as a failed attempt');
    } finally {
      await b.close();
    }
    const d = await qa.describeGroup(groupId);
    assert.deepEqual([d.acked, d.inFlight, d.redeliveries], [1, 0, 1]);
  } finally {
    started.open();
    await a.close();
  }
});
