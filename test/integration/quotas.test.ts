/**
 * Byte-rate quotas on a real broker (docs/security.md, "Quotas and limits"), auth none, so
 * entities are client ids: a produce quota and a fetch quota each hold their client to the
 * rate within 10 % over a window of many seconds, while a client without a quota on the same
 * broker goes on at its own speed; quotas set offline with `sluice quota set --data-dir`,
 * listed and changed through the broker without a restart.
 *
 * Rates are measured at the client (bytes acknowledged or received between two instants
 * after a warm-up that spends the one-second burst), over 8 s: long enough that a CI stall of
 * a second or two moves the figure by a few percent, short enough to keep the file under a
 * minute. The unthrottled client must beat 3x the quota: a broker that throttled everyone
 * (a wrong entity) or blocked while throttling would hold it near the quota.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Producer } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';
import { RateWindow, withAdmin as withAdminAt } from './quota-helpers.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { batchOf, metricValue } from './broker-helpers.js';
import { runCli } from './security-cli.js';

const KiB = 1024;
const PRODUCE_RATE = 256 * KiB;
const FETCH_RATE = 512 * KiB;
const WARMUP_MS = 2500;
const WINDOW_MS = 8000;

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-quotas-'));
let broker: BrokerHandle;

before(async () => {
  // The produce quota is set offline, before the broker starts; the fetch quota later, through it.
  const set = await runCli(['quota', 'set', '--client-id', 'slow-producer', '--producer-byte-rate', String(PRODUCE_RATE), '--data-dir', dataDir]);
  assert.equal(set.code, 0, set.stderr);
  broker = await startBroker({ dataDir });
});
after(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function withAdmin<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
  return withAdminAt(broker.url, fn);
}

test('a produce quota holds a producer to its rate within 10 % while an unthrottled one keeps its speed', async (t) => {
  await withAdmin((a) => a.createTopics([{ name: 'produce-quota', partitions: 2 }]));
  const value = Buffer.alloc(16 * KiB, 'x');
  const messages = Array.from({ length: 4 }, () => ({ value })); // 64 KiB per send
  const run = async (clientId: string, partition: number, w: RateWindow): Promise<void> => {
    const p = new Producer({ url: broker.url, clientId, lingerMs: 0 });
    try {
      while (!w.stopped) {
        await p.sendBatch('produce-quota', messages.map((m) => ({ ...m, partition })));
        w.count(4 * value.length);
      }
    } finally {
      await p.close();
    }
  };
  const slow = new RateWindow(WARMUP_MS, WINDOW_MS);
  const fast = new RateWindow(WARMUP_MS, WINDOW_MS);
  await Promise.all([run('slow-producer', 0, slow), run('fast-producer', 1, fast)]);
  const ratio = slow.rate / PRODUCE_RATE;
  t.diagnostic(`throttled ${Math.round(slow.rate / KiB)} KiB/s (quota ${PRODUCE_RATE / KiB}), unthrottled ${Math.round(fast.rate / KiB)} KiB/s`);
  assert.ok(ratio > 0.9 && ratio < 1.1, `throttled producer: ${Math.round(slow.rate / KiB)} KiB/s against a quota of ${PRODUCE_RATE / KiB} KiB/s (ratio ${ratio.toFixed(3)})`);
  assert.ok(fast.rate > 3 * PRODUCE_RATE, `unthrottled producer: ${Math.round(fast.rate / KiB)} KiB/s, not above 3x the other's quota`);
  // The broker says whom it throttled, under the entity's own label.
  assert.ok(await metricValue(broker.httpUrl, 'sluice_quota_throttled_total', { kind: 'produce', entity: 'client-id:slow-producer' }) > 0);
  assert.ok(await metricValue(broker.httpUrl, 'sluice_quota_throttle_seconds_total', { kind: 'produce', entity: 'client-id:slow-producer' }) > 0);
});

test('a fetch quota set through the running broker holds a consumer to its rate within 10 % while an unthrottled one reads on', async (t) => {
  const topic = 'fetch-quota';
  await withAdmin((a) => a.createTopics([{ name: topic, partitions: 1 }]));
  // 12 MiB in 64 KiB batches: more than the throttled reader gets through in warm-up and window.
  const filler = new Connection(broker.url);
  const batch = batchOf(Array.from({ length: 4 }, () => 'y'.repeat(16 * KiB)));
  for (let i = 0; i < 192; i++) await filler.request(Api.Produce, { acks: 1, partitions: [{ topic, partition: 0, records: batch }] });
  await filler.close();
  await withAdmin((a) => a.alterClientQuotas({ type: 'client-id', name: 'slow-consumer' }, { consumerByteRate: FETCH_RATE }));
  assert.deepEqual(await withAdmin((a) => a.describeClientQuotas()), [
    { entityType: 'client-id', name: 'slow-consumer', consumerByteRate: FETCH_RATE },
    { entityType: 'client-id', name: 'slow-producer', producerByteRate: PRODUCE_RATE },
  ]);
  let fastEnd = 0;
  const read = async (clientId: string, w: RateWindow): Promise<number> => {
    const c = new Connection(broker.url, { clientId });
    let offset = 0;
    try {
      while (!w.stopped) {
        const res = await c.request(Api.Fetch, { maxWaitMs: 0, minBytes: 0, maxBytes: 64 * KiB, partitions: [{ topic, partition: 0, offset, maxBytes: 64 * KiB }] });
        const p = res.partitions[0];
        if (p.records.length === 0) break; // read it all
        w.count(p.records.length);
        offset += 4;
      }
    } finally {
      await c.close();
    }
    return offset;
  };
  const slow = new RateWindow(WARMUP_MS, WINDOW_MS);
  const fast = new RateWindow(WARMUP_MS, WINDOW_MS);
  const t0 = Date.now();
  await Promise.all([read('slow-consumer', slow), read('fast-consumer', fast).then(() => { fastEnd = Date.now() - t0; })]);
  const ratio = slow.rate / FETCH_RATE;
  t.diagnostic(`throttled ${Math.round(slow.rate / KiB)} KiB/s (quota ${FETCH_RATE / KiB}), unthrottled read 12 MiB in ${fastEnd} ms`);
  assert.ok(ratio > 0.9 && ratio < 1.1, `throttled consumer: ${Math.round(slow.rate / KiB)} KiB/s against a quota of ${FETCH_RATE / KiB} KiB/s (ratio ${ratio.toFixed(3)})`);
  // The unthrottled reader took all 12 MiB in less than a third of the time the quota allows for it.
  const quotaMs = ((192 * 64 * KiB) / FETCH_RATE) * 1000;
  assert.ok(fastEnd < quotaMs / 3, `unthrottled consumer read 12 MiB in ${fastEnd} ms; the quota would allow it in no less than ${quotaMs} ms`);
  assert.ok(await metricValue(broker.httpUrl, 'sluice_quota_throttled_total', { kind: 'fetch', entity: 'client-id:slow-consumer' }) > 0);
});

test('sluice quota set and list through the broker; a bad entity or rate is refused with a message', async () => {
  const set = await runCli(['quota', 'set', '--default', '--consumer-byte-rate', '1048576', '--broker', broker.url]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, 'quota of default saved\n');
  const list = await runCli(['quota', 'list', '--broker', broker.url]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^client-id:slow-consumer\tproducerByteRate=-\tconsumerByteRate=524288$/m);
  assert.match(list.stdout, /^default\tproducerByteRate=-\tconsumerByteRate=1048576$/m);
  const removed = await runCli(['quota', 'set', '--default', '--consumer-byte-rate', 'none', '--broker', broker.url]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.doesNotMatch((await runCli(['quota', 'list', '--broker', broker.url])).stdout, /^default/m);
  const bad = await runCli(['quota', 'set', '--client-id', 'a/b', '--producer-byte-rate', '10', '--broker', broker.url]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /client-id "a\/b" holds a control character or '\/'/);
  const badRate = await runCli(['quota', 'set', '--user', 'u', '--producer-byte-rate', '0', '--broker', broker.url]);
  assert.notEqual(badRate.code, 0);
  assert.match(badRate.stderr, /--producer-byte-rate must be bytes per second \(an integer >= 1\) or 'none'/);
});
