import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api, EARLIEST, LATEST } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { batchOf, createTopic, produce, fetchFrom, readAll, recordsIn, waitForParked } from './broker-helpers.js';

let broker: BrokerHandle;
let c: RawClient;
before(async () => {
  broker = await startBroker();
  c = await RawClient.connect(broker.url);
});
after(async () => {
  c?.close();
  await broker?.stop();
});

test('health and readiness over plain HTTP; other paths 404', async () => {
  assert.equal((await fetch(`${broker.httpUrl}/healthz`)).status, 200);
  assert.equal(await (await fetch(`${broker.httpUrl}/healthz`)).text(), 'ok');
  assert.equal((await fetch(`${broker.httpUrl}/readyz`)).status, 200);
  assert.equal((await fetch(`${broker.httpUrl}/nope`)).status, 404);
});

test('create topic, then again -> TOPIC_ALREADY_EXISTS; metadata lists it', async () => {
  assert.equal((await createTopic(c, 'orders', 3)).error, undefined);
  assert.equal((await createTopic(c, 'orders', 3)).error.code, ERRORS.TOPIC_ALREADY_EXISTS.code);
  assert.equal((await createTopic(c, 'zero', 0)).error.code, ERRORS.INVALID_PARTITIONS.code);
  assert.equal((await createTopic(c, 'cfg', 1, { bogus: 1 })).error.code, ERRORS.INVALID_CONFIG.code);
  const md = await c.request({ api: Api.Metadata });
  const t = md.topics.find((x: { name: string }) => x.name === 'orders');
  assert.equal(t.partitions, 3);
  assert.equal(typeof md.brokerVersion, 'string');
  const one = await c.request({ api: Api.Metadata, topics: ['orders', 'missing'] });
  assert.equal(one.topics[1].error.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
});

test('produce with acks 1 and -1 answers with base offsets; acks 0 gets no response but data lands', async () => {
  await createTopic(c, 'acks');
  const r1 = await produce(c, 'acks', 0, batchOf(['a', 'b']), 1);
  assert.deepEqual(r1.partitions[0], { topic: 'acks', partition: 0, baseOffset: 0 });
  const r2 = await produce(c, 'acks', 0, batchOf(['c']), -1);
  assert.equal(r2.partitions[0].baseOffset, 2);
  c.fire({ api: Api.Produce, acks: 0, partitions: [{ topic: 'acks', partition: 0, records: batchOf(['d', 'e']) }] });
  // A later acks-1 produce on the same partition is appended after it, in order.
  const r3 = await produce(c, 'acks', 0, batchOf(['f']), 1);
  assert.equal(r3.partitions[0].baseOffset, 5);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.unexpected.length, 0, 'acks 0 produced no response frame');
  assert.deepEqual(await readAll(c, 'acks', 0), [[0, 'a'], [1, 'b'], [2, 'c'], [3, 'd'], [4, 'e'], [5, 'f']]);
});

test('per-partition errors: unknown topic, bad partition, corrupt batch, oversized set', async () => {
  await createTopic(c, 'pe', 2);
  const corrupt = batchOf(['x']);
  corrupt[corrupt.length - 1] ^= 0xff;
  const res = await c.request({
    api: Api.Produce, acks: 1, partitions: [
      { topic: 'pe', partition: 1, records: batchOf(['ok']) },
      { topic: 'nope', partition: 0, records: batchOf(['x']) },
      { topic: 'pe', partition: 7, records: batchOf(['x']) },
      { topic: 'pe', partition: 0, records: corrupt },
      { topic: '../etc', partition: 0, records: batchOf(['x']) },
    ],
  });
  const codes = res.partitions.map((p: { error?: { code: number } }) => p.error?.code);
  assert.deepEqual(codes, [undefined, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code,
    ERRORS.CORRUPT_MESSAGE.code, ERRORS.INVALID_TOPIC.code]);
  assert.deepEqual(await readAll(c, 'pe', 0), [], 'corrupt batch stored nothing');
  assert.deepEqual(await readAll(c, 'pe', 1), [[0, 'ok']]);
});

test('fetch replays from earliest and from a middle offset', async () => {
  await createTopic(c, 'replay');
  for (let i = 0; i < 10; i++) await produce(c, 'replay', 0, batchOf([`m${i * 2}`, `m${i * 2 + 1}`]));
  const all = await readAll(c, 'replay', 0);
  assert.equal(all.length, 20);
  assert.deepEqual(all[19], [19, 'm19']);
  const mid = await readAll(c, 'replay', 0, 13);
  assert.deepEqual(mid[0], [13, 'm13']);
  assert.equal(mid.length, 7);
  const res = await fetchFrom(c, 'replay', 0, 0);
  assert.equal(res.partitions[0].highWatermark, 20);
  assert.equal(res.partitions[0].logStartOffset, 0);
  assert.ok(Buffer.isBuffer(res.partitions[0].records));
});

test('OFFSET_OUT_OF_RANGE carries the valid range', async () => {
  await createTopic(c, 'oor');
  await produce(c, 'oor', 0, batchOf(['a', 'b', 'c']));
  const res = await fetchFrom(c, 'oor', 0, 99);
  const p = res.partitions[0];
  assert.equal(p.error.code, ERRORS.OFFSET_OUT_OF_RANGE.code);
  assert.deepEqual({ s: p.error.data.logStartOffset, e: p.error.data.logEndOffset }, { s: 0, e: 3 });
  assert.equal(p.highWatermark, 3);
});

test('ListOffsets: earliest, latest, by timestamp', async () => {
  await createTopic(c, 'times');
  await produce(c, 'times', 0, batchOf(['a', 'b'], 1_000));
  await produce(c, 'times', 0, batchOf(['c'], 2_000));
  await produce(c, 'times', 0, batchOf(['d', 'e'], 3_000));
  const res = await c.request({
    api: Api.ListOffsets, partitions: [EARLIEST, LATEST, 1_500, 2_000, 2_500, 9_999, 0].map((timestamp) => ({ topic: 'times', partition: 0, timestamp })),
  });
  assert.deepEqual(res.partitions.map((p: { offset: number }) => p.offset), [0, 5, 2, 2, 3, 5, 0]);
  const bad = await c.request({ api: Api.ListOffsets, partitions: [{ topic: 'nope', partition: 0, timestamp: -1 }] });
  assert.equal(bad.partitions[0].error.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
});

test('long poll: a fetch at the log end wakes on new data, and times out when none comes', async () => {
  await createTopic(c, 'poll');
  const t0 = Date.now();
  const empty = await fetchFrom(c, 'poll', 0, 0, { maxWaitMs: 300 });
  const waited = Date.now() - t0;
  assert.ok(waited >= 280, `timed out after ${waited} ms`);
  assert.equal(empty.partitions[0].records.length, 0);

  const other = await RawClient.connect(broker.url);
  const t1 = Date.now();
  const pending = fetchFrom(c, 'poll', 0, 0, { maxWaitMs: 10_000 });
  await waitForParked(broker.httpUrl, 'fetch'); // the append below must wake it, not find it still reading
  await produce(other, 'poll', 0, batchOf(['wake']));
  const res = await pending;
  assert.ok(Date.now() - t1 < 9_000, 'answered on append, not on timeout'); // room for a stall of seconds (CI)
  assert.deepEqual(recordsIn(res.partitions[0].records), [[0, 'wake']]);
  other.close();
});

test('pipelining: many requests in flight on one connection, each answered by id', async () => {
  await createTopic(c, 'pipe');
  // Long enough that a stall (CI has seen seconds) before the produces cannot time it out
  // empty; the first append wakes it.
  const slow = fetchFrom(c, 'pipe', 0, 0, { maxWaitMs: 10_000 });
  const fast = await Promise.all(Array.from({ length: 200 }, (_, i) => produce(c, 'pipe', 0, batchOf([`v${i}`]))));
  const offsets = fast.map((r) => r.partitions[0].baseOffset).sort((a, b) => a - b);
  assert.deepEqual(offsets, Array.from({ length: 200 }, (_, i) => i));
  // The slow fetch was answered out of order (after later requests), and did see data.
  assert.ok((await slow).partitions[0].records.length > 0);
});

test('describe, create partitions, delete', async () => {
  await createTopic(c, 'adm', 1, { retentionMs: 60_000 });
  await produce(c, 'adm', 0, batchOf(['a']));
  const grow = await c.request({ api: Api.CreatePartitions, topics: [{ name: 'adm', totalPartitions: 3 }, { name: 'adm', totalPartitions: 1 }] });
  assert.equal(grow.topics[0].error, undefined);
  assert.equal(grow.topics[1].error.code, ERRORS.INVALID_PARTITIONS.code);
  const d = await c.request({ api: Api.DescribeTopics, topics: ['adm', 'missing'] });
  assert.equal(d.topics[0].partitions.length, 3);
  assert.equal(d.topics[0].partitions[0].highWatermark, 1);
  assert.equal(d.topics[0].config.retentionMs, 60_000);
  assert.equal(d.topics[1].error.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
  const del = await c.request({ api: Api.DeleteTopics, topics: ['adm', 'adm'] });
  assert.equal(del.topics[0].error, undefined);
  assert.equal(del.topics[1].error.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
  assert.equal((await fetchFrom(c, 'adm', 0, 0)).partitions[0].error.code, ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
  assert.match(broker.logs(), /"event":"topic deleted","topic":"adm"/);
});
