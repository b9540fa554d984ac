// One connection, or many, must not exhaust the broker's memory: a client that pipelines
// fetches of a big batch and never reads its socket used to make the broker read and hold
// every answer (200 fetches of a 16 MiB batch: 3.15 GB). Fetches now reserve their bytes
// against the connection's budget (maxBufferedBytesPerConnection) and the broker's
// (maxBufferedBytes) before reading, and a spent connection stops being read.
//
// Sync point: an acks=all produce from another client. Its fsync runs on the same libuv
// threadpool as the log reads, behind reads already queued: once it is answered, every
// fetch the broker had started reading is read. Without the budgets that is all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { batchOf, createTopic, fetchFrom, produce, readAll } from './broker-helpers.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';

const MiB = 1024 * 1024;

async function gauges(b: BrokerHandle) {
  const e = parseExposition(await (await fetch(`${b.httpUrl}/metrics`)).text());
  return {
    held: valueOf(e, 'sluice_buffered_bytes') + valueOf(e, 'sluice_reserved_bytes'),
    reserved: valueOf(e, 'sluice_reserved_bytes'),
    rss: valueOf(e, 'process_resident_memory_bytes'),
  };
}

async function until(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A topic holding one batch of ~2 MiB. */
async function bigTopic(c: RawClient, name: string): Promise<number> {
  await createTopic(c, name);
  const batch = encodeBatch(Array.from({ length: 2000 }, (_, i) => ({ value: Buffer.alloc(1000, i % 256) })));
  await produce(c, name, 0, batch);
  return batch.length;
}

/** A client whose socket is paused (it reads nothing) with `n` fetches of the whole batch in flight. */
async function stalledFetcher(b: BrokerHandle, topic: string, n: number) {
  const c = await RawClient.connect(b.url);
  const sock = c.socket;
  sock.pause();
  const answers = Array.from({ length: n }, () => c.request({
    api: Api.Fetch, maxWaitMs: 0, minBytes: 0, maxBytes: 4 * MiB, partitions: [{ topic, partition: 0, offset: 0, maxBytes: 4 * MiB }],
  }, 120_000));
  return { c, sock, answers };
}

test('a connection that pipelines fetches and never reads holds about one budget; another client is served', async (t) => {
  const b = await startBroker(); // maxBufferedBytesPerConnection 8 MiB
  t.after(() => b.stop());
  const good = await RawClient.connect(b.url);
  t.after(() => good.close());
  const batchBytes = await bigTopic(good, 'big');
  await createTopic(good, 'other');
  const before = await gauges(b);

  const slow = await stalledFetcher(b, 'big', 200); // 400 MB of answers if all were read
  t.after(() => { slow.sock.resume(); slow.c.close(); });
  await until(async () => (await gauges(b)).held >= 4 * MiB, 'the broker started on the stalled fetches');
  const p = await produce(good, 'other', 0, batchOf(['served']), -1);
  assert.equal(p.partitions[0].baseOffset, 0);
  const f = await fetchFrom(good, 'big', 0, 0, { maxBytes: 4 * MiB });
  assert.equal(f.partitions[0].records.length, batchBytes, 'another client fetches the big batch');

  const during = await gauges(b);
  // The budget, plus one batch a read may return past its grant, plus some slack.
  assert.ok(during.held <= 8 * MiB + 2 * batchBytes, `held ${during.held} bytes for a client that reads nothing`);
  assert.ok(during.rss - before.rss < 160 * MiB, `RSS grew by ${((during.rss - before.rss) / MiB).toFixed(0)} MiB`);

  slow.sock.resume();
  const all = await Promise.all(slow.answers);
  assert.ok(all.every((r) => r.partitions?.[0].records.length === batchBytes), 'every stalled fetch is answered in full once read');
  await until(async () => (await gauges(b)).held === 0, 'all held bytes given back');
});

test('many stalled connections together hold about maxBufferedBytes; other clients keep being answered', async (t) => {
  const b = await startBroker({ args: ['--max-buffered-bytes-per-connection', String(64 * MiB), '--max-buffered-bytes', String(16 * MiB)] });
  t.after(() => b.stop());
  const good = await RawClient.connect(b.url);
  t.after(() => good.close());
  const batchBytes = await bigTopic(good, 'big');
  await createTopic(good, 'other');
  const before = await gauges(b);

  // 4 x 40 fetches of 2 MiB: 320 MB if read, 4 x 64 MiB within the per-connection budgets.
  const slow = await Promise.all([0, 1, 2, 3].map(() => stalledFetcher(b, 'big', 40)));
  t.after(() => { for (const s of slow) { s.sock.resume(); s.c.close(); } });
  await until(async () => (await gauges(b)).held >= 12 * MiB, 'the broker started on the stalled fetches');
  const p = await produce(good, 'other', 0, batchOf(['served']), -1);
  assert.equal(p.partitions[0].baseOffset, 0);
  const meta = await good.request({ api: Api.Metadata });
  assert.ok(meta.topics.some((x: { name: string }) => x.name === 'big'));

  const during = await gauges(b);
  assert.ok(during.held <= 16 * MiB + 2 * batchBytes, `held ${during.held} bytes across stalled connections`);
  assert.ok(during.rss - before.rss < 160 * MiB, `RSS grew by ${((during.rss - before.rss) / MiB).toFixed(0)} MiB`);

  for (const s of slow) s.sock.resume();
  for (const s of slow) {
    const all = await Promise.all(s.answers);
    assert.ok(all.every((r) => r.partitions?.[0].records.length === batchBytes), 'every stalled fetch is answered in full once read');
  }
  assert.deepEqual(await readAll(good, 'other', 0), [[0, 'served']]);
  await until(async () => (await gauges(b)).held === 0, 'all held bytes given back');
});
