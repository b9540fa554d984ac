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
import type { Job } from '../../src/client/queue-job.js';

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
  /**
   * Answer holder tokens as a coordinator does (ShareService.holderOf): one per coordinator
   * instance, `instance` bumped by a reload or move. Off: a broker from before holder tokens.
   */
  holders = false;
  instance = 0;
  /** While above 0, share requests are refused with `refusal` (the coordinator keeps its locks), one fewer each time. */
  refusals = 0;
  refusal: { code: number; message: string } = NOT_COORDINATOR;
  /** Every release entry the coordinator applied, and the ShareAck requests it refused for a stale holder. */
  readonly releases: { offsets: number[]; kind?: string; holder?: string }[] = [];
  readonly staleHolderRefusals: number[][] = [];

  override answer(b: FakeBroker, api: number, body: any): any {
    const res = this.answerNow(b, api, body);
    if (api !== Api.ShareAcquire || !this.holdAcquires || res.error) return res;
    this.acquiresHeld.push(res);
    // The outcome of acks the held acquire carried is not held with it (a broker pushes it once durable).
    const push = res.pushAfter;
    delete res.pushAfter;
    if (push) setImmediate(() => { for (const c of this.conns) if (c.atUrl === b.url) c.push(push); });
    return this.holdAcquires.then(() => res);
  }

  /** The coordinator moves to broker `to` (or reloads in place): a new instance, no locks, counts kept. */
  move(to: number): void {
    this.held.clear();
    this.coordinator = to;
    this.instance++;
  }

  private holderToken(): string {
    return `b${this.coordinator}-i${this.instance}`;
  }

  private answerNow(b: FakeBroker, api: number, body: any): any {
    if (api === Api.FindCoordinator) return { nodeId: this.coordinator, url: this.url(this.coordinator) };
    if (api !== Api.ShareAcquire && api !== Api.ShareAck) return super.answer(b, api, body);
    if (b.nodeId !== this.coordinator) return { error: NOT_COORDINATOR };
    if (this.refusals > 0) {
      this.refusals--;
      return { error: this.refusal };
    }
    const held = this.held.get(b.nodeId) ?? new Set<number>();
    this.held.set(b.nodeId, held);
    if (api === Api.ShareAck) {
      if (body.holder !== undefined && body.holder !== this.holderToken()) {
        this.staleHolderRefusals.push(body.entries.flatMap((e: any) => e.offsets));
        return { results: body.entries.map(() => ({ error: { code: 121, message: 'stale holder' } })) };
      }
      return {
        results: body.entries.map((e: any) => {
          if (!e.offsets.every((o: number) => held.has(o))) return { error: { code: 121, message: 'not held' } };
          if (e.type === 'release') {
            this.releases.push({ offsets: e.offsets, kind: e.kind, holder: body.holder });
            for (const o of e.offsets) {
              held.delete(o);
              if (e.kind === 'unstarted') this.counts.set(o, this.counts.get(o)! - 1);
            }
          } else e.offsets.forEach((o: number) => this.acked.add(o));
          return {};
        }),
      };
    }
    // Acks carried by the acquire: settled first, as ShareAck entries of their worker; the outcome is pushed.
    let carried = {};
    if (body.acks) {
      const workers = body.acks.workers.map((w: any) => this.answerNow(b, Api.ShareAck, { workerId: w.workerId, holder: w.holder, entries: w.entries }));
      carried = { acksTaken: true, pushAfter: { id: 0, push: 'share-acks', acked: [{ groupId: body.groupId, seq: body.acks.seq, workers }] } };
    }
    const holder = this.holders ? { holder: this.holderToken(), ...carried } : carried;
    const end = this.logEnd('jobs', 0);
    const free = [];
    for (let o = 0; o < end && free.length < body.maxRecords; o++) if (!held.has(o) && !this.acked.has(o)) free.push(o);
    if (free.length === 0) return { partitions: [], ...holder };
    const acquired = free.map((o) => {
      held.add(o);
      const c = (this.counts.get(o) ?? 0) + 1;
      this.counts.set(o, c);
      return { firstOffset: o, lastOffset: o, deliveryCount: c };
    });
    const records = Buffer.concat(this.logs.get(tpKey('jobs', 0))!);
    return { partitions: [{ topic: 'jobs', partition: 0, acquired, lockDeadline: Date.now() + 60_000, records }], ...holder };
  }
}

/** A worker on a fresh two-broker fake holding `jobs` records at broker 0; its first job, handed out. */
async function firstJob(t: { after: (fn: () => Promise<void>) => void }, jobs: number, holders = false) {
  const cluster = new ShareFakeCluster(2);
  cluster.holders = holders;
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
  return { cluster, it, first, w };
}

/** The iterator's next job, or a failure naming `what` once 20 s passed (the fake never expires a lock, so a dropped job never comes back). */
async function nextWithin(it: AsyncIterator<Job>, what: string): Promise<Job> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no job within 20 s: ${what}`)), 20_000); });
  try {
    return (await Promise.race([it.next(), late])).value as Job;
  } finally {
    clearTimeout(timer);
  }
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

for (const [name, refusal] of [['NOT_COORDINATOR', NOT_COORDINATOR], ['COORDINATOR_LOAD_IN_PROGRESS', { code: 14, message: 'loading' }]] as const) {
  test(`jobs prefetched before a ${name} from the coordinator that still holds their locks (same holder token) are handed out, at their first delivery`, { timeout: 60_000 }, async (t) => {
    const { cluster, it } = await firstJob(t, 3, true);
    assert.deepEqual([...cluster.held.get(0)!].sort(), [0, 1, 2], 'offsets 1 and 2 wait in the buffer');
    // The coordinator refuses a few requests (a view catching up, a session renewing) but
    // keeps its locks: the next answer carries the same holder token.
    cluster.refusal = refusal;
    cluster.refusals = 3;
    const deadline = Date.now() + 30_000;
    while (cluster.refusals > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(cluster.refusals, 0, 'the worker met every refusal');
    const got = [await nextWithin(it, 'offset 1 was dropped'), await nextWithin(it, 'offset 2 was dropped')];
    assert.deepEqual(got.map((j) => [j.offset, j.deliveryCount]), [[1, 1], [2, 1]], 'the prefetched jobs, not dropped to wait out their locks');
    assert.deepEqual([cluster.counts.get(1), cluster.counts.get(2)], [1, 1], 'no second delivery counted');
    for (const j of got) await j.ack();
    assert.ok(cluster.acked.has(1) && cluster.acked.has(2), 'their acks settle the locks the coordinator kept');
  });
}

test('with holder tokens, jobs prefetched from a coordinator that reloaded (a new token) are dropped, and the new acquisition of the record is handed out', { timeout: 60_000 }, async (t) => {
  const { cluster, it } = await firstJob(t, 3, true);
  // Another worker acks offsets 1 and 2 at the reloaded coordinator (same broker, new instance).
  cluster.acked.add(1);
  cluster.acked.add(2);
  cluster.move(0);
  cluster.refusal = { code: 14, message: 'loading' };
  cluster.refusals = 1;
  const deadline = Date.now() + 30_000;
  while (!cluster.held.get(0)?.has(0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  cluster.append('jobs', 0, batchOf(1, 3));
  const next = await nextWithin(it, 'nothing after the reload');
  assert.ok(next.offset === 0 || next.offset === 3, `offset ${next.offset} at count ${next.deliveryCount}: not a buffered copy of a job another worker acked`);
  await next.ack();
});

test('close after a move gives back only the jobs held under the current holder token, each naming it (the coordinator refuses a give-back under a stale token)', { timeout: 60_000 }, async (t) => {
  const { cluster, w } = await firstJob(t, 3, true);
  // The coordinator moves to broker 1; the worker acquires offsets 1 and 2 again there (count
  // 2) while its copies from broker 0 are still buffered (and 0, whose first delivery the
  // application still holds).
  cluster.move(1);
  const deadline = Date.now() + 30_000;
  while (!(cluster.held.get(1)?.has(1) && cluster.held.get(1)?.has(2)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cluster.held.get(1)?.has(1) && cluster.held.get(1)?.has(2), 'broker 1 handed offsets 1 and 2 to the worker again');
  await w.close();
  assert.deepEqual(cluster.staleHolderRefusals, [], 'no give-back was sent for the stale copies');
  // Give-backs of one tick travel as one entry through the ack batcher: count them per offset.
  assert.deepEqual(cluster.releases.flatMap((r) => r.offsets.map((o) => [o, r.kind, r.holder])).sort(), [[0, 'unstarted', 'b1-i1'], [1, 'unstarted', 'b1-i1'], [2, 'unstarted', 'b1-i1']],
    'each record given back once, unstarted, naming the holder token it was acquired under');
  assert.deepEqual([cluster.counts.get(1), cluster.counts.get(2)], [1, 1], 'the give-back took back the second acquisition');
});

test('a worker\'s settings are checked at its join only: checkSettings goes with its acquires until one is answered, never after (not at a new coordinator either), and a late join refusal does not stop it', { timeout: 60_000 }, async (t) => {
  const cluster = new ShareFakeCluster(2);
  cluster.createTopic('jobs', [0]);
  cluster.append('jobs', 0, batchOf(1, 0));
  const settings = { visibilityTimeoutMs: 10_000 };
  const w = new QueueConsumer({
    brokers: [cluster.url(0), cluster.url(1)], groupId: 'g', topics: 'jobs', concurrency: 1, maxWaitMs: 10, retryBackoffMs: 10,
    connectionFactory: cluster.factory, settings,
  });
  t.after(() => w.close());
  const it = w[Symbol.asyncIterator]();
  await (await nextWithin(it, 'the first job')).ack();
  // The coordinator moves: the worker joins broker 1 as a worker it does not know.
  cluster.move(1);
  cluster.append('jobs', 0, batchOf(1, 1));
  await (await nextWithin(it, 'the job at the new coordinator')).ack();
  // A join refusal (INCONSISTENT_GROUP_PROTOCOL) of a request that went out checked while the
  // join passed (an alter in between) does not end a worker that joined: it asks again.
  cluster.refusal = { code: 23, message: 'settings differ' };
  cluster.refusals = 1;
  cluster.append('jobs', 0, batchOf(1, 2));
  const third = await nextWithin(it, 'the job after a late refusal');
  assert.equal(third.offset, 2);
  const acquires = cluster.requests.filter((r) => r.api === Api.ShareAcquire);
  const checked = acquires.filter((r) => (r.body as { checkSettings?: boolean }).checkSettings === true);
  assert.ok(checked.length >= 1 && checked.length <= 3, `${checked.length} checked acquires: only those sent before the first answer (two acquires and a heartbeat at most)`);
  assert.deepEqual(acquires.slice(0, checked.length), checked, 'the checked ones are the first');
  assert.ok(acquires.some((r) => r.url === cluster.url(1)) && acquires.filter((r) => r.url === cluster.url(1)).every((r) => (r.body as { checkSettings?: boolean }).checkSettings === undefined),
    'none at the new coordinator');
  assert.ok(acquires.every((r) => JSON.stringify((r.body as { settings?: unknown }).settings) === JSON.stringify(settings)), 'settings go with every acquire (a group deleted meanwhile is created again with them)');
});
