// A consumer assigned many partitions with a backlog in each must not read them one group
// at a time: the broker fills a fetch's maxBytes in request order, so the consumer moves
// the partitions that just returned records to the back of its next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { Admin, Consumer, Producer } from '../../src/client/index.js';

const PARTITIONS = 16;
const PER_PARTITION = 640; // ten 64 KiB batches of 1000-byte values

test('a backlog in 16 partitions is read from all of them early, not four at a time', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const admin = new Admin({ url: broker.url });
  t.after(() => admin.close());
  await admin.createTopic('fair', PARTITIONS);
  const producer = new Producer({ url: broker.url, batchBytes: 64 * 1024, acks: 1 });
  const value = Buffer.alloc(1000, 120);
  for (let round = 0; round < PER_PARTITION; round += 64) {
    const recs = [];
    for (let p = 0; p < PARTITIONS; p++) for (let i = 0; i < 64; i++) recs.push({ value, partition: p });
    await producer.send('fair', recs);
  }
  await producer.close();

  // Each fetch has room for about four partitions' 64 KiB batches.
  const consumer = new Consumer({ url: broker.url, autoOffsetReset: 'earliest', maxPartitionBytes: 64 * 1024, maxBytes: 256 * 1024 });
  t.after(() => consumer.close());
  await consumer.assign('fair');
  const total = PARTITIONS * PER_PARTITION;
  const seenAt = new Map<number, number>(); // partition -> records delivered before its first
  let delivered = 0;
  await consumer.run({
    eachBatch: async ({ partition, messages }) => {
      if (!seenAt.has(partition)) seenAt.set(partition, delivered);
      delivered += messages.length;
      if (delivered >= total) await consumer.close();
    },
  });
  assert.equal(delivered, total);
  assert.equal(seenAt.size, PARTITIONS);
  const last = Math.max(...seenAt.values());
  // In assignment order the last four partitions would wait for 12 x 640 = 7680 records (75 %).
  assert.ok(last <= total * 0.2, `the last partition to deliver started after ${last} of ${total} records`);
});

test('default settings: batches of ~100 KB in 3 partitions are read in turns, not one partition in slivers', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const admin = new Admin({ url: broker.url });
  t.after(() => admin.close());
  await admin.createTopic('turns', 3);
  const producer = new Producer({ url: broker.url, batchBytes: 100_000, acks: 1 });
  const value = Buffer.alloc(1000, 121);
  const per = 20_000; // ~20 MB per partition: about five 4 MiB fetches each
  for (let p = 0; p < 3; p++) await producer.send('turns', Array.from({ length: per }, () => ({ value, partition: p })));
  await producer.close();

  const consumer = new Consumer({ url: broker.url, autoOffsetReset: 'earliest' });
  t.after(() => consumer.close());
  await consumer.assign('turns');
  const got = [0, 0, 0];
  let delivered = 0;
  let atHalf: number[] | undefined;
  await consumer.run({
    eachBatch: async ({ partition, messages }) => {
      got[partition] += messages.length;
      delivered += messages.length;
      if (!atHalf && delivered >= 1.5 * per) atHalf = [...got];
      if (delivered >= 3 * per) await consumer.close();
    },
  });
  // In turns of ~4 MiB, each partition has 40-60 % behind it at half time. Were the second
  // partition of a fetch given one batch past the budget and sent to the back for it, one
  // partition would live on ~100 KB slivers (about 23 % at half time).
  for (let p = 0; p < 3; p++) assert.ok(atHalf![p] >= per * 0.35, `at half time, records per partition: ${atHalf!.join(', ')}`);
});
