/**
 * A fetch (consumer) quota holds a share-group worker too (docs/security.md, "Quotas and
 * limits"): a ShareAcquire answer's record bytes are metered like a Fetch's, and an answer is
 * bounded to the quota's one-second burst (fewer records, the rest left available), so the
 * throttle never outlasts the worker's locks. Auth none: entities are client ids.
 *
 * The rate is measured at the worker (record bytes received between two instants after a
 * warm-up that spends the burst) over 8 s, as test/integration/quotas.test.ts does for Fetch,
 * but from the first answer in the window to the last: each answer is a second's worth
 * (RateWindow.spacedRate).
 * Each acquire asks for 500 jobs of 4 KiB (2 MiB): unbounded, that answer alone is a 15 s
 * throttle, past the 10 s visibility timeout, so its acks would find the locks expired.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api, type ShareAcquireResponse } from '../../src/protocol/api.js';
import { RateWindow, withAdmin as withAdminAt } from './quota-helpers.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { batchOf, metricValue } from './broker-helpers.js';

const KiB = 1024;
const RATE = 128 * KiB;
const WARMUP_MS = 2500;
const WINDOW_MS = 8000;

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-share-quota-'));
let broker: BrokerHandle;

before(async () => {
  broker = await startBroker({ dataDir });
});
after(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function withAdmin<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
  return withAdminAt(broker.url, fn);
}

async function fill(topic: string, batches: number, jobsPerBatch: number, jobBytes: number): Promise<void> {
  await withAdmin((a) => a.createTopics([{ name: topic, partitions: 1 }]));
  const c = new Connection(broker.url);
  try {
    const batch = batchOf(Array.from({ length: jobsPerBatch }, () => 'j'.repeat(jobBytes)));
    for (let i = 0; i < batches; i++) await c.request(Api.Produce, { acks: 1, partitions: [{ topic, partition: 0, records: batch }] });
  } finally {
    await c.close();
  }
}

/** One acquire; the offsets it got and their delivery counts. */
async function acquire(c: Connection, groupId: string, workerId: string, topic: string, maxRecords: number): Promise<{ res: ShareAcquireResponse; offsets: number[]; counts: number[]; bytes: number }> {
  const res = await c.request(Api.ShareAcquire, { groupId, workerId, topics: [topic], maxRecords, maxWaitMs: 0, settings: { visibilityTimeoutMs: 10_000 } });
  const offsets: number[] = [];
  const counts: number[] = [];
  let bytes = 0;
  for (const p of res.partitions) {
    assert.equal(p.error, undefined, `acquire: ${p.error?.message}`);
    bytes += p.records.length;
    for (const r of p.acquired) for (let o = r.firstOffset; o <= r.lastOffset; o++) { offsets.push(o); counts.push(r.deliveryCount); }
  }
  return { res, offsets, counts, bytes };
}

async function ack(c: Connection, groupId: string, workerId: string, topic: string, offsets: number[]): Promise<void> {
  const res = await c.request(Api.ShareAck, { groupId, workerId, entries: [{ topic, partition: 0, offsets, type: 'ack' }] });
  for (const r of res.results) assert.equal(r.error, undefined, `ack of ${offsets.length} jobs: ${r.error?.message}`);
}

test('a consumer quota holds a share-group worker to its rate within 10 % while an unthrottled worker keeps its speed; no job is redelivered', async (t) => {
  const topic = 'share-quota-rate';
  await fill(topic, 128, 16, 4 * KiB); // 2,048 jobs of 4 KiB: 8 MiB
  await withAdmin((a) => a.alterClientQuotas({ type: 'client-id', name: 'slow-worker' }, { consumerByteRate: RATE }));
  const counts: number[] = [];
  let fastEnd = 0;
  const work = async (clientId: string, groupId: string, w: RateWindow): Promise<void> => {
    const c = new Connection(broker.url, { clientId });
    try {
      while (!w.stopped) {
        const got = await acquire(c, groupId, clientId, topic, 500);
        if (got.offsets.length === 0) break; // all done
        counts.push(...got.counts);
        w.count(got.bytes);
        await ack(c, groupId, clientId, topic, got.offsets);
      }
    } finally {
      await c.close();
    }
  };
  const slow = new RateWindow(WARMUP_MS, WINDOW_MS);
  const fast = new RateWindow(WARMUP_MS, WINDOW_MS);
  const t0 = Date.now();
  await Promise.all([work('slow-worker', 'g-slow', slow), work('fast-worker', 'g-fast', fast).then(() => { fastEnd = Date.now() - t0; })]);
  const ratio = slow.spacedRate / RATE;
  t.diagnostic(`throttled worker ${Math.round(slow.spacedRate / KiB)} KiB/s (quota ${RATE / KiB}), unthrottled took 8 MiB in ${fastEnd} ms`);
  assert.ok(ratio > 0.9 && ratio < 1.1, `throttled worker: ${Math.round(slow.spacedRate / KiB)} KiB/s against a quota of ${RATE / KiB} KiB/s (ratio ${ratio.toFixed(3)})`);
  const quotaMs = ((8192 * KiB) / RATE) * 1000;
  assert.ok(fastEnd < quotaMs / 3, `unthrottled worker took 8 MiB in ${fastEnd} ms; the quota would allow it in no less than ${quotaMs} ms`);
  assert.deepEqual([...new Set(counts)], [1], 'every job was delivered once');
  assert.ok(await metricValue(broker.httpUrl, 'sluice_quota_throttled_total', { kind: 'fetch', entity: 'client-id:slow-worker' }) > 0);
});

test('a quota smaller than one job: one job per answer, the rest stay available to other workers, delivery counts stay 1', async () => {
  const topic = 'share-quota-big-jobs';
  await fill(topic, 1, 6, 16 * KiB); // one batch of six 16 KiB jobs
  await withAdmin((a) => a.alterClientQuotas({ type: 'client-id', name: 'tiny-worker' }, { consumerByteRate: 12 * KiB }));
  const slow = new Connection(broker.url, { clientId: 'tiny-worker' });
  const other = new Connection(broker.url, { clientId: 'other-worker' });
  try {
    const done: number[] = [];
    for (let i = 0; i < 3; i++) {
      const got = await acquire(slow, 'g-big', 'tiny', topic, 6);
      assert.equal(got.offsets.length, 1, `answer ${i} carried ${got.offsets.length} jobs, not one`);
      assert.deepEqual(got.counts, [1]);
      assert.ok(got.bytes > 16 * KiB && got.bytes < 20 * KiB, `answer ${i}: ${got.bytes} bytes for one 16 KiB job`);
      await ack(slow, 'g-big', 'tiny', topic, got.offsets);
      done.push(...got.offsets);
    }
    assert.deepEqual(done, [0, 1, 2]);
    // What the throttled worker did not get was never locked to it nor counted as an attempt.
    const rest = await acquire(other, 'g-big', 'other', topic, 6);
    assert.deepEqual(rest.offsets, [3, 4, 5]);
    assert.deepEqual(rest.counts, [1, 1, 1]);
  } finally {
    await slow.close();
    await other.close();
  }
});
