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

  constructor(records: number) {
    super(1);
    this.clustered = false;
    this.createTopic('jobs', [0]);
    this.append('jobs', 0, batchOf(records, 0));
  }

  override answer(b: FakeBroker, api: number, body: any): any {
    if (api === Api.ShareLeave) return {};
    if (api === Api.ShareAck) return { results: body.entries.map((e: any) => this.ack(body.workerId, e)) };
    if (api !== Api.ShareAcquire) return super.answer(b, api, body);
    const free: number[] = [];
    for (let o = 0; o < this.logEnd('jobs', 0) && free.length < body.maxRecords; o++) if (!this.holder.has(o) && !this.acked.has(o)) free.push(o);
    if (free.length === 0) return { partitions: [] };
    for (const o of free) this.holder.set(o, body.workerId);
    const acquired = free.map((o) => ({ firstOffset: o, lastOffset: o, deliveryCount: 1 }));
    return { partitions: [{ topic: 'jobs', partition: 0, acquired, lockDeadline: Date.now() + 60_000, records: Buffer.concat(this.logs.get(tpKey('jobs', 0))!) }] };
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
