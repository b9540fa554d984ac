// The broker reads fetched records into pooled buffers and reuses them once a response is
// written. A buffer reused too early would hand one client's bytes to another: this test
// keeps many responses queued on a connection that does not read, churns the pool from a
// second connection, then checks every queued response byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { createTopic, produce, recordsIn, waitForMetric } from './broker-helpers.js';

const BATCHES = 12;
const PER_BATCH = 200;
const valueOf = (offset: number) => `rec-${offset}-`.padEnd(2000, String.fromCharCode(97 + (offset % 26)));

function fetchOne(c: RawClient, offset: number) {
  // One batch is ~400 KB: this limit answers exactly the batch at `offset`, read whole into
  // one (pooled) read buffer and sent from it by reference.
  return c.request({
    api: Api.Fetch, maxWaitMs: 0, minBytes: 0, maxBytes: 600_000, partitions: [{ topic: 'pool', partition: 0, offset, maxBytes: 600_000 }],
  }, 60_000);
}

function assertBatchAt(res: Record<string, any>, offset: number): void {
  const recs = recordsIn(res.partitions[0].records); // decodes with the CRC checked
  assert.equal(recs.length, PER_BATCH, `records in the batch at ${offset}`);
  for (const [o, v] of recs) assert.equal(v, valueOf(o), `record ${o} in the answer for ${offset}`);
  assert.equal(recs[0][0], offset);
}

test('fetch answers queued behind a slow reader keep their bytes while other fetches reuse read buffers', async (t) => {
  const broker = await startBroker({ args: ['--max-buffered-bytes-per-connection', String(64 << 20)] });
  t.after(() => broker.stop());
  const admin = await RawClient.connect(broker.url);
  t.after(() => admin.close());
  await createTopic(admin, 'pool');
  for (let b = 0; b < BATCHES; b++) {
    const base = b * PER_BATCH;
    await produce(admin, 'pool', 0, encodeBatch(Array.from({ length: PER_BATCH }, (_, i) => ({ value: valueOf(base + i) }))));
  }

  const slow = await RawClient.connect(broker.url);
  t.after(() => slow.close());
  const sock = slow.socket;
  sock.pause();
  t.after(() => sock.resume()); // a paused socket would hold up the close if the test fails first
  // ~400 KB per answer, 5 rounds over every batch: far more than loopback buffers hold, so
  // most answers wait in the broker's write queue, their read buffers still lent out.
  const queued: { offset: number; res: ReturnType<typeof fetchOne> }[] = [];
  for (let round = 0; round < 5; round++) {
    for (let b = 0; b < BATCHES; b++) queued.push({ offset: b * PER_BATCH, res: fetchOne(slow, b * PER_BATCH) });
  }
  // Every one of them answered (counted once its response is queued): their read buffers are
  // lent out to the write queue before the other connection starts to churn the pool.
  await waitForMetric(broker.httpUrl, 'sluice_requests_total', { api: 'Fetch' }, (n) => n >= queued.length);

  // Meanwhile another connection reads every batch, in the opposite order, many times.
  const fast = await RawClient.connect(broker.url);
  t.after(() => fast.close());
  for (let round = 0; round < 10; round++) {
    for (let b = BATCHES - 1; b >= 0; b--) assertBatchAt(await fetchOne(fast, b * PER_BATCH), b * PER_BATCH);
  }

  sock.resume();
  for (const q of queued) assertBatchAt(await q.res, q.offset);
});
