// Producer, Consumer and Admin against the real broker process over real sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Consumer, Producer, partitionForKey, type Message } from '../../src/client/index.js';
import { waitForParked } from './broker-helpers.js';

let broker: BrokerHandle;
let admin: Admin;
before(async () => {
  broker = await startBroker();
  admin = new Admin({ url: broker.url });
});
after(async () => {
  await admin.close();
  await broker.stop();
});

async function readN(consumer: Consumer, n: number, timeoutMs = 10_000): Promise<Message[]> {
  const out: Message[] = [];
  const timer = setTimeout(() => void consumer.close(), timeoutMs);
  for await (const m of consumer) {
    out.push(m);
    if (out.length >= n) break;
  }
  clearTimeout(timer);
  return out;
}

for (const acks of [0, 1, 'all'] as const) {
  test(`acks=${acks}: produce, then replay from earliest sees every message in order`, async () => {
    const topic = `acks-${acks}`;
    await admin.createTopic(topic, 1);
    const p = new Producer({ url: broker.url, acks });
    const results = await p.send(topic, Array.from({ length: 500 }, (_, i) => ({ value: `m${i}` })));
    await p.close();
    if (acks === 0) assert.ok(results.every((r) => r.offset === -1));
    else assert.deepEqual(results.map((r) => r.offset), Array.from({ length: 500 }, (_, i) => i));
    const c = new Consumer({ url: broker.url, autoOffsetReset: 'earliest' });
    await c.assign(topic);
    const got = await readN(c, 500);
    assert.deepEqual(got.map((m) => m.value!.toString()), Array.from({ length: 500 }, (_, i) => `m${i}`));
    assert.deepEqual(got.map((m) => m.offset), Array.from({ length: 500 }, (_, i) => i));
  });
}

test('seek to an offset and to a timestamp replays from there', async () => {
  const topic = 'seek';
  await admin.createTopic(topic, 1);
  const p = new Producer({ url: broker.url });
  const t0 = 1_700_000_000_000;
  await p.send(topic, Array.from({ length: 100 }, (_, i) => ({ value: `v${i}`, timestamp: t0 + i * 1000, key: `k${i}`, headers: [{ key: 'i', value: String(i) }] })));
  await p.close();

  const c = new Consumer({ url: broker.url });
  await c.assign([{ topic, partition: 0 }]);
  c.seek({ topic, partition: 0 }, 37);
  const fromOffset = await readN(c, 3);
  assert.deepEqual(fromOffset.map((m) => m.offset), [37, 38, 39]);
  assert.equal(fromOffset[0].key!.toString(), 'k37');
  assert.equal(fromOffset[0].headers[0].value!.toString(), '37');
  assert.equal(fromOffset[0].timestamp, t0 + 37_000);

  const c2 = new Consumer({ url: broker.url });
  await c2.assign(topic);
  c2.seek({ topic, partition: 0 }, { timestamp: t0 + 60_500 });
  const fromTime = await readN(c2, 2);
  assert.deepEqual(fromTime.map((m) => m.offset), [61, 62], 'records of the batch before the time are skipped');

  await c2.close();
  assert.deepEqual((await admin.listOffsets(topic, 'latest'))[0].offset, 100);
  const d = await admin.describeTopic(topic);
  assert.equal(d.partitions[0].highWatermark, 100);
  assert.ok(d.partitions[0].sizeBytes > 0);
});

test('a key maps to the same partition across producer instances, as Kafka would', async () => {
  const topic = 'keys';
  await admin.createTopic(topic, 6);
  const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const placements: number[][] = [];
  for (let round = 0; round < 2; round++) {
    const p = new Producer({ url: broker.url });
    const rs = await p.send(topic, keys.map((key) => ({ key, value: 'x' })));
    placements.push(rs.map((r) => r.partition));
    await p.close();
  }
  assert.deepEqual(placements[0], placements[1]);
  assert.deepEqual(placements[0], keys.map((k) => partitionForKey(k, 6)));
  assert.ok(new Set(placements[0]).size > 1, 'keys spread over partitions');
});

test('for await long-polls and wakes when new data arrives', async () => {
  const topic = 'longpoll';
  await admin.createTopic(topic, 2);
  // maxWaitMs far above the bound below, which leaves room for stalls of seconds (seen on CI).
  const c = new Consumer({ url: broker.url, autoOffsetReset: 'latest', maxWaitMs: 30_000 });
  await c.assign(topic);
  const got = readN(c, 2, 20_000);
  // The consumer's fetch is parked at the broker: the append below must wake it.
  await waitForParked(broker.httpUrl, 'fetch');
  const p = new Producer({ url: broker.url, lingerMs: 0 });
  const sentAt = Date.now();
  await p.send(topic, [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }]);
  const msgs = await got;
  const latency = Date.now() - sentAt;
  assert.deepEqual(msgs.map((m) => m.value!.toString()).sort(), ['a', 'b']);
  assert.ok(latency < 15_000, `woke after ${latency} ms; a long poll must answer on new data, not at maxWaitMs`);
  await p.close();
});

test('unknown topic: clear typed error', async () => {
  const p = new Producer({ url: broker.url });
  await assert.rejects(p.send('no-such-topic', { value: 'x' }), (e: any) => e.code === 'UNKNOWN_TOPIC_OR_PARTITION' && /no-such-topic/.test(e.message));
  await p.close();
  await assert.rejects(admin.createTopic('keys', 1), (e: any) => e.code === 'TOPIC_ALREADY_EXISTS');
  const c = new Consumer({ url: broker.url });
  await assert.rejects(c.assign([{ topic: 'keys', partition: 99 }]), (e: any) => e.code === 'UNKNOWN_TOPIC_OR_PARTITION');
  await c.close();
});

test('admin: list, createPartitions, delete', async () => {
  await admin.createTopic('grow', 1);
  await admin.createPartitions('grow', 3);
  const t = (await admin.listTopics()).find((x) => x.name === 'grow');
  assert.equal(t?.partitions, 3);
  await admin.deleteTopic('grow');
  assert.equal((await admin.listTopics()).some((x) => x.name === 'grow'), false);
  await assert.rejects(admin.describeTopic('grow'), (e: any) => e.code === 'UNKNOWN_TOPIC_OR_PARTITION');
});
