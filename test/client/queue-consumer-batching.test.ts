// QueueConsumer's request batching against a fake broker (test/client/fake-cluster.ts plus the
// share apis below): how many records an acquire asks for, and how acks travel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import { Api } from '../../src/protocol/api.js';
import { FakeCluster, type FakeBroker } from './fake-cluster.js';
import { batchOf } from '../storage/helpers.js';
import { tpKey } from '../../src/protocol/topic-partition.js';

const NOT_HELD = { code: 1103, message: 'not held' };

/** One fake broker keeping a share group of topic 'jobs' (one partition): it hands out each record not held or acked. */
class ShareFake extends FakeCluster {
  /** offset -> worker holding it. */
  readonly holder = new Map<number, string>();
  readonly acked = new Set<number>();
  /** The lock each acquisition is answered with (the fake never expires locks itself). */
  lockMs = 60_000;

  constructor(records: number) {
    super(1);
    this.clustered = false;
    this.createTopic('jobs', [0]);
    this.append('jobs', 0, batchOf(records, 0));
  }

  /** False: answers as a broker before ShareAcquire's `acks` (ignores them). */
  takesAcks = true;

  /** Outcomes of carried acks that asked to wait for the next answer (`later`). */
  owedLater: object[] = [];

  /** The outcomes owed, for an answer. */
  private owed(): object {
    const acked = this.owedLater.splice(0);
    return acked.length ? { acked } : {};
  }

  override answer(b: FakeBroker, api: number, body: any): any {
    if (api === Api.ShareLeave) return {};
    if (api === Api.ShareAck) return { results: body.entries.map((e: any) => this.ack(body.workerId, e)), ...this.owed() };
    if (api !== Api.ShareAcquire) return super.answer(b, api, body);
    // Acks carried by the acquire: applied first; their outcome is pushed, or with `later`
    // told in the next answer (as the broker does once they are durable).
    let carried = {};
    if (this.takesAcks && body.acks) {
      const outcome = { groupId: body.groupId, seq: body.acks.seq, workers: body.acks.workers.map((w: any) => ({ results: w.entries.map((e: any) => this.ack(w.workerId, e)) })) };
      if (body.acks.later) {
        carried = { acksTaken: true, ...this.owed() };
        this.owedLater.push(outcome);
      } else carried = { acksTaken: true, ...this.owed(), pushAfter: { id: 0, push: 'share-acks', acked: [outcome] } };
    }
    const free: number[] = [];
    for (let o = 0; o < this.logEnd('jobs', 0) && free.length < body.maxRecords; o++) if (!this.holder.has(o) && !this.acked.has(o)) free.push(o);
    if (free.length === 0) return { partitions: [], ...carried };
    for (const o of free) this.holder.set(o, body.workerId);
    const acquired = free.map((o) => ({ firstOffset: o, lastOffset: o, deliveryCount: 1 }));
    return { partitions: [{ topic: 'jobs', partition: 0, acquired, lockDeadline: Date.now() + this.lockMs, records: Buffer.concat(this.logs.get(tpKey('jobs', 0))!) }], ...carried };
  }

  /** All or nothing, as the broker's entries are. */
  ack(workerId: string, e: { offsets: number[] }): object {
    if (!e.offsets.every((o) => this.holder.get(o) === workerId)) return { error: NOT_HELD };
    for (const o of e.offsets) { this.holder.delete(o); this.acked.add(o); }
    return {};
  }

  /** maxRecords of every acquire that asked for records. */
  asked(): number[] {
    return this.requests.filter((r) => r.api === Api.ShareAcquire && r.body.maxRecords > 0).map((r) => r.body.maxRecords);
  }
}

/** Runs `w` (acking every job at once) until `n` jobs were acked. */
async function ackAll(w: QueueConsumer, n: number): Promise<void> {
  let acked = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => { done = r; });
  const running = w.run(async (job) => {
    await job.ack();
    if (++acked === n) done();
  });
  await all;
  await w.close();
  await running;
}

test('a worker asks for every slot its handlers freed in one tick, not for the first one freed', { timeout: 30_000 }, async () => {
  const fake = new ShareFake(80);
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 8, maxWaitMs: 10, connectionFactory: fake.factory });
  await ackAll(w, 80);
  assert.equal(fake.acked.size, 80);
  const asked = fake.asked();
  // Ten acquisitions of eight: each acquire after the first asks once all eight handlers of the
  // one before have acked (same tick). Asking at the first freed slot took 1 and then 7.
  assert.deepEqual(asked.slice(0, 10), Array(10).fill(8), `maxRecords asked: ${asked.join(',')}`);
});

/** ShareFake on two brokers: only `coordinator` answers share requests (NOT_COORDINATOR elsewhere); it settles `workers` too. */
class MovingShareFake extends ShareFake {
  coordinator = 0;

  constructor(records: number) {
    super(records);
    this.clustered = true;
    this.brokers.set(1, { nodeId: 1, url: 'ws://fake-1:9400', alive: true, produceDelayMs: 0 });
  }

  override answer(b: FakeBroker, api: number, body: any): any {
    if (api === Api.FindCoordinator) return { nodeId: this.coordinator, url: this.url(this.coordinator) };
    if ((api === Api.ShareAcquire || api === Api.ShareAck) && b.nodeId !== this.coordinator) return { error: { code: 16, message: 'not the coordinator' } };
    if (api !== Api.ShareAck) return super.answer(b, api, body);
    return {
      results: body.entries.map((e: any) => this.ack(body.workerId, e)),
      ...(body.workers && { workers: body.workers.map((w: any) => ({ results: w.entries.map((e: any) => this.ack(w.workerId, e)) })) }),
    };
  }
}

test('two workers sharing a connection: a coalesced ack refused by a moved coordinator is sent again to the new one, for both', { timeout: 30_000 }, async (t) => {
  const fake = new MovingShareFake(4);
  const opts = { brokers: [fake.url(0), fake.url(1)], groupId: 'g', topics: 'jobs', concurrency: 1, maxWaitMs: 10, retryBackoffMs: 10, connectionFactory: fake.factory };
  const w1 = new QueueConsumer({ ...opts, workerId: 'w1' });
  const w2 = new QueueConsumer({ ...opts, workerId: 'w2', shareConnectionWith: w1 });
  t.after(() => Promise.all([w2.close(), w1.close()]));
  const j1 = (await w1[Symbol.asyncIterator]().next()).value!;
  const j2 = (await w2[Symbol.asyncIterator]().next()).value!;
  // The group moves to broker 1, which (in this fake) kept the locks: the acks must reach it.
  fake.coordinator = 1;
  await Promise.all([j1.ack(), j2.ack()]);
  assert.deepEqual([...fake.acked].sort(), [j1.offset, j2.offset].sort());
  // Both acks ride on the acquire the first worker to ask sends for its freed slot (one request for the two workers).
  const carried = fake.requests.filter((r) => r.api === Api.ShareAcquire && r.body.acks);
  assert.deepEqual(carried.map((r) => [r.url, r.body.acks.workers.map((w: any) => w.workerId).join()]), [
    [fake.url(0), 'w1,w2'],
    [fake.url(1), 'w1,w2'],
  ], 'one coalesced request, refused by broker 0 and sent again whole to broker 1');
  assert.equal(fake.requests.filter((r) => r.api === Api.ShareAck).length, 0, 'no ShareAck besides');
});

test('the same against a broker that predates ShareAcquire\'s acks: the acquire carrying them is sent again to the moved coordinator, which ignores them; then one coalesced ShareAck', { timeout: 30_000 }, async (t) => {
  const fake = new MovingShareFake(4);
  fake.takesAcks = false;
  const opts = { brokers: [fake.url(0), fake.url(1)], groupId: 'g', topics: 'jobs', concurrency: 1, maxWaitMs: 10, retryBackoffMs: 10, connectionFactory: fake.factory };
  const w1 = new QueueConsumer({ ...opts, workerId: 'w1' });
  const w2 = new QueueConsumer({ ...opts, workerId: 'w2', shareConnectionWith: w1 });
  t.after(() => Promise.all([w2.close(), w1.close()]));
  const j1 = (await w1[Symbol.asyncIterator]().next()).value!;
  const j2 = (await w2[Symbol.asyncIterator]().next()).value!;
  fake.coordinator = 1;
  await Promise.all([j1.ack(), j2.ack()]);
  assert.deepEqual([...fake.acked].sort(), [j1.offset, j2.offset].sort());
  const acks = fake.requests.filter((r) => r.api === Api.ShareAck);
  assert.deepEqual(acks.map((r) => [r.url, r.body.workerId, (r.body.workers ?? []).map((w: any) => w.workerId).join()]), [
    [fake.url(1), 'w1', 'w2'],
  ], 'the acquire that carried them was answered without acksTaken: one coalesced ShareAck');
  // Later acks are not carried again.
  const j3 = (await w1[Symbol.asyncIterator]().next()).value!;
  await j3.ack();
  assert.equal(fake.requests.filter((r) => r.api === Api.ShareAcquire && r.body.acks).length, 2, 'carried once (refused, then ignored), never after');
});

test('slots freed while an acquire is out are asked for by a second acquire at once, never more than the free slots', { timeout: 30_000 }, async () => {
  const fake = new ShareFake(40);
  // The second acquire's answer is held until the test lets it go: meanwhile the worker's
  // handlers end and free their slots.
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let acquires = 0;
  fake.holdAnswer = (api, body) => (api === Api.ShareAcquire && body.maxRecords > 0 && ++acquires === 2 ? held : undefined);
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 8, maxWaitMs: 10, connectionFactory: fake.factory });
  const finish = new Map<number, () => void>();
  let acked = 0;
  let allAcked!: () => void;
  const all = new Promise<void>((r) => { allAcked = r; });
  let maxHeld = 0;
  const running = w.run(async (job) => {
    maxHeld = Math.max(maxHeld, fake.holder.size);
    // Jobs 0-3 end at once, 4-7 when the test says; the rest at once.
    if (job.offset >= 4 && job.offset < 8) await new Promise<void>((r) => finish.set(job.offset, r));
    await job.ack();
    if (++acked === 40) allAcked();
  });
  const until = async (what: string, ok: () => boolean) => {
    for (const end = Date.now() + 10_000; !ok(); await new Promise((r) => setTimeout(r, 5))) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}; acquires asked for ${fake.asked().slice(0, 10).join(',')}`);
    }
  };
  // The first acquisition (8) runs; jobs 0-3 end and the second acquire asks for their 4 slots (held).
  await until('the second acquire', () => fake.asked().length === 2 && finish.size === 4);
  assert.deepEqual(fake.asked(), [8, 4]);
  // Jobs 4-7 end while the second acquire is still out: a third asks for their slots now.
  for (const f of finish.values()) f();
  // (The fake answers an acquire it has nothing for at once, so more follow.)
  await until('a third acquire while the second is out', () => fake.asked().length >= 3);
  assert.deepEqual(fake.asked().slice(0, 3), [8, 4, 4]);
  release();
  await all;
  await w.close();
  await running;
  assert.equal(fake.acked.size, 40);
  assert.ok(maxHeld <= 8, `the worker held ${maxHeld} jobs at once with concurrency 8`);
});

test('a job whose lock ran out frees its slot; one still buffered is dropped, never handed out', { timeout: 30_000 }, async (t) => {
  const fake = new ShareFake(10);
  fake.lockMs = 300;
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 2, maxWaitMs: 10, connectionFactory: fake.factory });
  t.after(() => w.close());
  const it = w[Symbol.asyncIterator]();
  // Offsets 0 and 1 acquired together; 0 handed out and never settled, 1 left in the buffer.
  const first = (await it.next()).value!;
  assert.equal(first.offset, 0);
  assert.equal(w.inFlight, 2);
  // Both locks run out (the worker's lock timer, one per worker): both slots are free again
  // and the worker acquires two new records.
  for (const end = Date.now() + 10_000; fake.asked().length < 2; await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > end) assert.fail(`no acquire for the freed slots; asked ${fake.asked().join(',')}`);
  }
  assert.deepEqual(fake.asked().slice(0, 2), [2, 2]);
  // The expired buffered job (offset 1) is not handed out: the next job is a new record.
  const next = (await it.next()).value!;
  assert.equal(next.offset, 2);
});

test('a for-await loop handling one job at a time asks once half its slots are free, not once per job', { timeout: 30_000 }, async () => {
  // More records than the loop takes: this fake answers an acquire it has nothing for at once
  // (a broker parks it), which would count as acquires once the topic ran dry.
  const fake = new ShareFake(2000);
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 64, maxWaitMs: 10, connectionFactory: fake.factory });
  let n = 0;
  for await (const job of w) {
    await job.ack();
    if (++n === 1000) break;
  }
  assert.equal(n, 1000);
  const asked = fake.asked();
  // Asking at every freed slot sent an acquire for 1 record per job (~1,000 here).
  assert.ok(asked.length <= 40, `${asked.length} acquires for 1,000 jobs: ${asked.join(',')}...`);
});

/** Waits until `ok()` or fails naming `what` (the fake answers within a few event-loop turns). */
async function until(what: string, ok: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !ok(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
  }
}

test('an ack carried by an acquire whose confirmation has not come fails retriably when the connection drops', { timeout: 30_000 }, async (t) => {
  const fake = new ShareFake(4);
  fake.holdPushes = new Promise<void>(() => {}); // the broker's fsync never ends
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 1, maxWaitMs: 10, retryBackoffMs: 10, connectionFactory: fake.factory });
  t.after(() => w.close());
  const job = (await w[Symbol.asyncIterator]().next()).value!;
  const acked = job.ack().then(() => 'resolved', (e: { code?: string; retriable?: boolean }) => `${e.code} retriable=${e.retriable}`);
  // The fake applied it (its confirmation is what is held).
  await until('the ack applied', () => fake.acked.has(job.offset));
  assert.ok(fake.requests.some((r) => r.api === Api.ShareAcquire && r.body.acks), 'carried by an acquire');
  for (const c of fake.conns) c.drop();
  assert.equal(await acked, 'NETWORK_ERROR retriable=true', 'applied or not is unknown: a retriable error, never a hang or a success');
});

test('close() waits for the confirmation of acks an acquire carried before it leaves', { timeout: 30_000 }, async () => {
  const fake = new ShareFake(4);
  let confirm!: () => void;
  fake.holdPushes = new Promise<void>((r) => { confirm = r; });
  let confirmed = false;
  let leftBeforeConfirmed = false;
  fake.onRequest = (_url, api) => { if (api === Api.ShareLeave && !confirmed) leftBeforeConfirmed = true; };
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 1, maxWaitMs: 10, connectionFactory: fake.factory });
  const job = (await w[Symbol.asyncIterator]().next()).value!;
  const acked = job.ack();
  await until('the ack applied', () => fake.acked.has(job.offset));
  assert.ok(fake.requests.some((r) => r.api === Api.ShareAcquire && r.body.acks), 'carried by an acquire');
  let closed = false;
  const closing = w.close().then(() => { closed = true; });
  // The fake answers within a turn or two: a close that did not wait would have left by now.
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  assert.equal(closed, false, 'close() ended before the carried ack was confirmed');
  assert.equal(leftBeforeConfirmed, false, 'the worker left before its carried ack was confirmed');
  confirmed = true;
  confirm();
  await acked;
  await closing;
  assert.equal(fake.requests.filter((r) => r.api === Api.ShareLeave).length, 1);
});

test('run()\'s own acks ride on acquires asking for no push: told in the next answer; close() collects the last ones with a ShareAck of no entries', { timeout: 30_000 }, async () => {
  const fake = new ShareFake(40);
  const w = new QueueConsumer({ url: fake.url(0), groupId: 'g', topics: 'jobs', concurrency: 8, maxWaitMs: 10, connectionFactory: fake.factory });
  let handled = 0;
  let allHandled!: () => void;
  const all = new Promise<void>((r) => { allHandled = r; });
  const running = w.run(() => { if (++handled === 40) allHandled(); });
  await all;
  await until('every ack applied', () => fake.acked.size === 40);
  await w.close();
  await running; // resolves only once every ack of run() was answered
  const carried = fake.requests.filter((r) => r.api === Api.ShareAcquire && r.body.acks);
  assert.ok(carried.length >= 4, `${carried.length} acquires carried acks`);
  assert.ok(carried.every((r) => r.body.acks.later === true), 'run()\'s acks ask for no push');
  const acks = fake.requests.filter((r) => r.api === Api.ShareAck);
  assert.deepEqual(acks.map((r) => r.body.entries.length), [0], 'one ShareAck, of no entries, collecting the outcomes still owed at close');
  assert.equal(fake.owedLater.length, 0, 'every outcome was told');
});
