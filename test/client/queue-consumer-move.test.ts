// QueueConsumer across a share coordinator move, against fake brokers (test/client/fake-cluster.ts
// plus the share apis below): jobs acquired from the old coordinator and still buffered when
// the worker learns of the move are not handed to the application. The old coordinator's locks
// died with its memory, the new one offers those records again, and another worker may already
// have acked them (chaos seed 34 with --target-coordinator: acked jobs handed out again, at
// delivery count 1, by a worker that had prefetched them before a move-leader).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import { Api } from '../../src/protocol/api.js';
import { FakeCluster, type FakeBroker } from './fake-cluster.js';
import { batchOf } from '../storage/helpers.js';
import { tpKey } from '../../src/protocol/topic-partition.js';

const NOT_COORDINATOR = { code: 16, message: 'not the coordinator' };

/** A fake cluster whose `coordinator` keeps the share group: it hands out each record not acked, counting deliveries. */
class ShareFakeCluster extends FakeCluster {
  coordinator = 0;
  /** Per coordinator: offsets it handed out (its locks), and the delivery counts it knows. */
  readonly held = new Map<number, Set<number>>();
  readonly counts = new Map<number, number>();
  readonly acked = new Set<number>();
  /** While set, acquire answers (computed at once) are delivered only once it resolves. */
  holdAcquires: Promise<void> | undefined;
  readonly acquiresHeld: unknown[] = [];

  override answer(b: FakeBroker, api: number, body: any): any {
    const res = this.answerNow(b, api, body);
    if (api !== Api.ShareAcquire || !this.holdAcquires || res.error) return res;
    this.acquiresHeld.push(res);
    return this.holdAcquires.then(() => res);
  }

  private answerNow(b: FakeBroker, api: number, body: any): any {
    if (api === Api.FindCoordinator) return { nodeId: this.coordinator, url: this.url(this.coordinator) };
    if (api !== Api.ShareAcquire && api !== Api.ShareAck) return super.answer(b, api, body);
    if (b.nodeId !== this.coordinator) return { error: NOT_COORDINATOR };
    const held = this.held.get(b.nodeId) ?? new Set<number>();
    this.held.set(b.nodeId, held);
    if (api === Api.ShareAck) {
      return { results: body.entries.map((e: any) => (e.offsets.every((o: number) => held.has(o)) ? (e.offsets.forEach((o: number) => this.acked.add(o)), {}) : { error: { code: 1103, message: 'not held' } })) };
    }
    const end = this.logEnd('jobs', 0);
    const free = [];
    for (let o = 0; o < end && free.length < body.maxRecords; o++) if (!held.has(o) && !this.acked.has(o)) free.push(o);
    if (free.length === 0) return { partitions: [] };
    const acquired = free.map((o) => {
      held.add(o);
      const c = (this.counts.get(o) ?? 0) + 1;
      this.counts.set(o, c);
      return { firstOffset: o, lastOffset: o, deliveryCount: c };
    });
    const records = Buffer.concat(this.logs.get(tpKey('jobs', 0))!);
    return { partitions: [{ topic: 'jobs', partition: 0, acquired, lockDeadline: Date.now() + 60_000, records }] };
  }
}

/** A worker on a fresh two-broker fake holding `jobs` records at broker 0; its first job, handed out. */
async function firstJob(t: { after: (fn: () => Promise<void>) => void }, jobs: number) {
  const cluster = new ShareFakeCluster(2);
  cluster.createTopic('jobs', [0]);
  cluster.append('jobs', 0, batchOf(jobs, 0));
  const w = new QueueConsumer({
    brokers: [cluster.url(0), cluster.url(1)], groupId: 'g', topics: 'jobs', concurrency: 4, maxWaitMs: 10, retryBackoffMs: 10,
    connectionFactory: cluster.factory,
  });
  t.after(() => w.close());
  const it = w[Symbol.asyncIterator]();
  const first = (await it.next()).value!;
  assert.deepEqual([first.offset, first.deliveryCount], [0, 1]);
  return { cluster, it, first };
}

test('jobs acquired from the old coordinator and still buffered at a move are not handed out; their records come from the new one', { timeout: 60_000 }, async (t) => {
  // Room for four: the first acquire takes all three records, and the loop keeps asking for one more.
  const { cluster, it, first } = await firstJob(t, 3);
  assert.deepEqual([...cluster.held.get(0)!].sort(), [0, 1, 2], 'all three acquired at broker 0: two wait in the buffer');

  // The coordinator moves to broker 1, which rebuilt the group from its log (no locks, counts
  // kept), and another worker of the group has taken offsets 1 and 2 there and acked them.
  cluster.acked.add(1);
  cluster.acked.add(2);
  cluster.counts.set(1, 2);
  cluster.counts.set(2, 2);
  cluster.coordinator = 1;
  // This worker's next acquire gets NOT_COORDINATOR, finds broker 1 and acquires offset 0 again.
  const deadline = Date.now() + 30_000;
  while (!cluster.held.get(1)?.has(0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cluster.held.get(1)?.has(0), 'the worker moved to broker 1');

  const next = (await it.next()).value!;
  assert.deepEqual({ offset: next.offset, deliveryCount: next.deliveryCount }, { offset: 0, deliveryCount: 2 },
    'the next job comes from the new coordinator, not a buffered copy of a job another worker acked');
  await next.ack();
  assert.ok(cluster.acked.has(0));
});

test('an acquire answered after this worker\'s ack of the same record (the ack settled that acquisition) does not hand the record out again', { timeout: 60_000 }, async (t) => {
  const { cluster, it, first } = await firstJob(t, 1);
  // The coordinator moves to broker 1 (no locks there); the worker's next acquire takes offset
  // 0 again at count 2, but its answer is held back until the first delivery's ack is answered.
  let release!: () => void;
  cluster.holdAcquires = new Promise<void>((r) => { release = r; });
  cluster.coordinator = 1;
  const deadline = Date.now() + 30_000;
  while (!cluster.held.get(1)?.has(0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cluster.held.get(1)?.has(0), 'broker 1 handed offset 0 to the worker again');
  // The ack of the first delivery reaches broker 1, where the worker holds offset 0: it settles it.
  await first.ack();
  assert.ok(cluster.acked.has(0));
  // A new job, then the held acquire answer (offset 0 at count 2) arrives after the ack's.
  cluster.append('jobs', 0, batchOf(1, 1));
  cluster.holdAcquires = undefined;
  release();
  const next = (await it.next()).value!;
  assert.deepEqual({ offset: next.offset, deliveryCount: next.deliveryCount }, { offset: 1, deliveryCount: 1 },
    'the copy of the acked record in the late acquire answer is not handed out');
  await next.ack();
});
