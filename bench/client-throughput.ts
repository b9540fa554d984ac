/**
 * Client throughput against a running broker (starts nothing):
 *   node --import tsx bench/client-throughput.ts --broker ws://127.0.0.1:9400 [--messages 1000000] [--size 100] [--partitions 1]
 * Produces N x SIZE-byte values to a fresh topic with acks=1, then to another with
 * acks=all, then replays the first from the earliest offset. Prints one JSON object.
 */
import { parseArgs } from 'node:util';
import { Admin, Consumer, Producer, type Acks } from '../src/client/index.js';

const { values } = parseArgs({
  options: {
    broker: { type: 'string', default: process.env.SLUICE_BROKER ?? 'ws://127.0.0.1:9400' },
    messages: { type: 'string', default: '1000000' },
    size: { type: 'string', default: '100' },
    partitions: { type: 'string', default: '1' },
    chunk: { type: 'string', default: '10000' },
  },
});
const url = values.broker!;
const N = Number(values.messages);
const SIZE = Number(values.size);
const PARTS = Number(values.partitions);
const CHUNK = Number(values.chunk);

async function produce(topic: string, acks: Acks): Promise<number> {
  const producer = new Producer({ url, acks });
  await producer.connect();
  const value = Buffer.alloc(SIZE, 'x');
  // Reuse one chunk array of message objects: the producer keeps references until the
  // batch is encoded, so each chunk gets its own array, but values share one Buffer.
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let sent = 0; sent < N; sent += CHUNK) {
    const n = Math.min(CHUNK, N - sent);
    const msgs = new Array(n);
    for (let i = 0; i < n; i++) msgs[i] = { value };
    pending.push(producer.sendBatch(topic, msgs));
    if (pending.length > 32) await pending.shift();
  }
  await Promise.all(pending);
  await producer.flush();
  const secs = (performance.now() - t0) / 1000;
  await producer.close();
  return N / secs;
}

async function replay(topic: string): Promise<number> {
  const consumer = new Consumer({ url, autoOffsetReset: 'earliest' });
  await consumer.connect();
  await consumer.assign(topic);
  const t0 = performance.now();
  let count = 0;
  await consumer.run({
    eachBatch: async ({ messages }) => {
      count += messages.length;
      if (count >= N) await consumer.close();
    },
  });
  return count / ((performance.now() - t0) / 1000);
}

async function replayIter(topic: string): Promise<number> {
  const consumer = new Consumer({ url, autoOffsetReset: 'earliest' });
  await consumer.assign(topic);
  const t0 = performance.now();
  let count = 0;
  for await (const _m of consumer) {
    if (++count >= N) break;
  }
  return count / ((performance.now() - t0) / 1000);
}

const admin = new Admin({ url });
const stamp = Date.now().toString(36);
const t1 = `bench-acks1-${stamp}`;
const tall = `bench-acksall-${stamp}`;
await admin.createTopic(t1, PARTS);
await admin.createTopic(tall, PARTS);
const result = {
  messages: N, valueBytes: SIZE, partitions: PARTS,
  produceAcks1MsgsPerSec: Math.round(await produce(t1, 1)),
  produceAcksAllMsgsPerSec: Math.round(await produce(tall, 'all')),
  replayEachBatchMsgsPerSec: Math.round(await replay(t1)),
  replayForAwaitMsgsPerSec: Math.round(await replayIter(t1)),
};
await admin.deleteTopics([t1, tall]).catch(() => {});
await admin.close();
console.log(JSON.stringify(result));
