/**
 * The idempotent producer's client side: sequence numbers per partition (idempotence.ts), and
 * a Producer against an in-process fake broker that stores produce requests but loses their
 * answers, so that the producer must retry: each retried batch goes out with its first
 * sequence and in order, and the fake leader (the real ProducerStateTable) stores every
 * message exactly once, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame, decodeFrame } from '../../src/protocol/codec.js';
import { Api } from '../../src/protocol/api.js';
import { BASE_SEQUENCE, PRODUCER_ID, RECORD_COUNT, decodeBatch, readInt64 } from '../../src/record/index.js';
import { IdempotentSequences } from '../../src/client/idempotence.js';
import { ProducerBatch } from '../../src/client/record-accumulator.js';
import { Producer } from '../../src/client/producer.js';
import { lastSequenceOf, ProducerStateTable, type SequenceCheck } from '../../src/storage/producer-state.js';
import type { SluiceError } from '../../src/errors.js';
import type { SendResult } from '../../src/client/types.js';

function batch(topic: string, partition: number, records: number): ProducerBatch {
  const b = new ProducerBatch(topic, partition, 0);
  for (let i = 0; i < records; i++) b.records.push({ value: `r${i}` });
  return b;
}

test('sequences count records per partition; at most five batches of a partition are unsettled', () => {
  const s = new IdempotentSequences();
  const a0 = batch('t', 0, 3);
  assert.equal(s.admit(a0), false, 'nothing goes out before a producer id');
  s.start(7, 0);
  const a = [a0, batch('t', 0, 2), batch('t', 0, 1), batch('t', 0, 1), batch('t', 0, 1)];
  const b0 = batch('t', 1, 4);
  assert.ok(a.every((x) => s.admit(x)));
  assert.ok(s.admit(b0));
  assert.deepEqual(a.map((x) => x.baseSequence), [0, 3, 5, 6, 7]);
  assert.deepEqual([b0.producerId, b0.producerEpoch, b0.baseSequence], [7, 0, 0], 'each partition has its own sequence');
  const sixth = batch('t', 0, 1);
  assert.equal(s.admit(sixth), false, 'a sixth batch of t/0 waits');
  s.acked(a[0]);
  assert.equal(s.admit(sixth), true);
  assert.equal(sixth.baseSequence, 8);
  // Encoded with the fields: what the broker reads.
  const bytes = sixth.encode();
  assert.deepEqual([readInt64(bytes, PRODUCER_ID), bytes.readInt32BE(BASE_SEQUENCE), bytes.readInt32BE(RECORD_COUNT)], [7, 8, 1]);
});

test('a retried batch keeps its sequence and goes out alone and first; later batches of its partition wait', () => {
  const s = new IdempotentSequences();
  s.start(1, 0);
  const [x, y, z] = [batch('t', 0, 2), batch('t', 0, 2), batch('t', 0, 2)];
  for (const b of [x, y, z]) assert.ok(s.admit(b));
  // The connection dropped: all three failed retriably, answers in any order.
  s.retrying(z);
  s.retrying(x);
  assert.equal(s.admit(z), false, 'z may not overtake x');
  assert.equal(s.admit(x), false, 'x waits while y is still in flight');
  s.retrying(y);
  const fresh = batch('t', 0, 1);
  assert.equal(s.admit(fresh), false, 'nothing new while retries are pending');
  assert.equal(s.admit(y), false);
  assert.equal(s.admit(x), true);
  assert.equal(x.baseSequence, 0, 'same sequence as the first send');
  assert.equal(s.admit(y), false, 'one at a time until the retries are settled');
  s.acked(x);
  assert.equal(s.admit(y), true);
  assert.equal(y.baseSequence, 2);
  s.acked(y);
  assert.equal(s.admit(z), true);
  s.acked(z);
  assert.equal(s.admit(fresh), true);
  assert.equal(fresh.baseSequence, 6);
});

test('UNKNOWN_PRODUCER_ID for the first of several retries: the ones waiting behind it are re-sequenced with it, so the reset is not blocked', () => {
  const s = new IdempotentSequences();
  s.start(1, 0);
  const [x, y, z] = [batch('t', 0, 2), batch('t', 0, 2), batch('t', 0, 2)];
  for (const b of [x, y, z]) assert.ok(s.admit(b));
  // The leader died with all three in flight; retries go one at a time, x first.
  for (const b of [x, y, z]) s.retrying(b);
  assert.equal(s.admit(x), true);
  // The new leader does not know the producer: it would refuse y and z just the same.
  assert.equal(s.refused(x, 'UNKNOWN_PRODUCER_ID'), 'resequence');
  s.resequence(x);
  assert.deepEqual([x, y, z].map((b) => b.baseSequence), [-1, -1, -1], 'x and the retries behind it leave the old sequence');
  assert.equal(s.needsProducerId, true, 'nothing of the old producer id is unsettled: the reset can happen');
  s.start(2, 0);
  for (const b of [x, y, z]) assert.ok(s.admit(b));
  assert.deepEqual([x, y, z].map((b) => [b.producerId, b.baseSequence]), [[2, 0], [2, 2], [2, 4]], 'in their first order under the new id');
});

test('refusals: a consequence of an earlier batch is retried; UNKNOWN_PRODUCER_ID re-sequences after a reset; a gap resets', () => {
  const s = new IdempotentSequences();
  s.start(1, 0);
  const [x, y] = [batch('t', 0, 1), batch('t', 0, 1)];
  s.admit(x);
  s.admit(y);
  assert.equal(s.refused(y, 'OUT_OF_ORDER_SEQUENCE_NUMBER'), 'retry', 'x is still unsettled: y was refused because x had not arrived');
  assert.equal(s.refused(x, 'OUT_OF_ORDER_SEQUENCE_NUMBER'), 'fail');
  assert.equal(s.refused(x, 'INVALID_PRODUCER_EPOCH'), 'fail');
  assert.equal(s.refused(x, 'UNKNOWN_PRODUCER_ID'), 'resequence');
  s.resequence(x);
  assert.equal(x.baseSequence, -1);
  assert.equal(s.needsProducerId, false, 'the reset waits for y');
  s.failed(y);
  assert.equal(s.needsProducerId, true);
  s.start(2, 0);
  assert.ok(s.admit(x));
  assert.deepEqual([x.producerId, x.baseSequence], [2, 0]);
});

test('a reset bumps the epoch of the same producer id; only a spent epoch (int16 maximum) needs a new id', () => {
  const s = new IdempotentSequences();
  assert.equal(s.bumpEpoch(), false, 'no producer id yet: InitProducerId first');
  s.start(7, 0);
  const [x, y] = [batch('t', 0, 3), batch('t', 1, 1)];
  assert.ok(s.admit(x) && s.admit(y));
  s.acked(y);
  s.failed(x); // a gap on partition 0
  assert.equal(s.needsProducerId, true);
  assert.equal(s.bumpEpoch(), true);
  assert.equal(s.needsProducerId, false);
  const [z, w] = [batch('t', 0, 1), batch('t', 1, 1)];
  assert.ok(s.admit(z) && s.admit(w));
  assert.deepEqual([z, w].map((b) => [b.producerId, b.producerEpoch, b.baseSequence]), [[7, 1, 0], [7, 1, 0]], 'same id, next epoch, every partition from 0');
  s.start(7, 0x7fff);
  assert.equal(s.bumpEpoch(), false, 'epoch 32767 is the last: a new producer id is needed');
});

/**
 * A fake broker with one topic `t` of two partitions, leading both with a real
 * ProducerStateTable. `lose(n)`: the next n produce requests are stored but not answered, and
 * the connection is then cut. `drop(n)`: the next n are neither stored nor answered, and the
 * connection is then cut. `forget()`: the producer state is lost (a new leader that never saw
 * the producer's batches, as after an acks=1 leader died before its followers fetched).
 */
async function fakeBroker() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const logs = [0, 1].map(() => ({ table: new ProducerStateTable(), values: [] as string[], sequences: [] as number[] }));
  const sent: { partition: number; seq: number; first: string }[] = [];
  let toLose = 0;
  let toDrop = 0;
  let nextId = 100;
  let producerIds = 0;
  wss.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer) => {
    const m = decodeFrame(d) as any;
    if (m.api === Api.Metadata) return ws.send(encodeFrame({ id: m.id, brokerVersion: 'fake', topics: [{ name: 't', partitions: 2 }] }));
    if (m.api === Api.InitProducerId) {
      producerIds++;
      return ws.send(encodeFrame({ id: m.id, producerId: nextId++, producerEpoch: 0 }));
    }
    if (m.api !== Api.Produce) return ws.send(encodeFrame({ id: m.id, error: { code: 1000, message: 'no' } }));
    if (toDrop > 0) {
      if (--toDrop === 0) ws.terminate();
      return;
    }
    const partitions = m.partitions.map((p: any) => {
      const buf = Buffer.from(p.records);
      const log = logs[p.partition]!;
      const dec = decodeBatch(buf, 0);
      const pb = { producerId: dec.header.producerId, producerEpoch: buf.readInt16BE(PRODUCER_ID + 8), baseSequence: buf.readInt32BE(BASE_SEQUENCE), lastSequence: 0 };
      pb.lastSequence = lastSequenceOf(pb.baseSequence, dec.records.length);
      sent.push({ partition: p.partition, seq: pb.baseSequence, first: dec.records[0]!.value!.toString() });
      try {
        const c: SequenceCheck = pb.producerId < 0 ? { kind: 'append' } : log.table.check(pb);
        if (c.kind === 'duplicate') return { topic: 't', partition: p.partition, baseOffset: c.firstOffset };
      } catch (err) {
        return { topic: 't', partition: p.partition, error: { code: (err as SluiceError).code === 'OUT_OF_ORDER_SEQUENCE_NUMBER' ? 45 : 59, message: (err as Error).message } };
      }
      const base = log.values.length;
      for (const r of dec.records) log.values.push(r.value!.toString());
      if (pb.producerId >= 0) log.table.record(pb, base, log.values.length - 1, Date.now());
      log.sequences.push(pb.baseSequence);
      return { topic: 't', partition: p.partition, baseOffset: base };
    });
    if (toLose > 0) {
      if (--toLose === 0) ws.terminate();
      return;
    }
    ws.send(encodeFrame({ id: m.id, partitions }));
  }));
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`, logs, sent,
    /** InitProducerId requests answered. */
    get producerIds() { return producerIds; },
    lose(n: number) { toLose = n; },
    drop(n: number) { toDrop = n; },
    forget() { for (const l of logs) l.table = new ProducerStateTable(); },
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

test('answers lost with the connection: retries resend each batch with its sequence, in order, and every message is stored once', async (t) => {
  const broker = await fakeBroker();
  t.after(() => broker.stop());
  const producer = new Producer({ url: broker.url, lingerMs: 0, batchBytes: 200, reconnectBackoffMs: 10, reconnectBackoffMaxMs: 20, retryBackoffMs: 5, retryBackoffMaxMs: 20 });
  t.after(() => producer.close());
  broker.lose(4);
  const values = Array.from({ length: 300 }, (_, i) => ({ value: `m${String(i).padStart(3, '0')}`, partition: i % 2 }));
  // Many small sends so that several batches per partition are in flight when the answers are lost.
  const results = await Promise.all(Array.from({ length: 30 }, (_, k) => producer.send('t', values.slice(k * 10, k * 10 + 10))));
  for (const p of [0, 1]) {
    const want = values.filter((v) => v.partition === p).map((v) => v.value);
    assert.deepEqual(broker.logs[p]!.values, want, `partition ${p}: every message once, in order`);
  }
  // Each message's reported offset is where it is stored.
  for (const [k, rs] of results.entries()) {
    for (const [i, r] of rs.entries()) assert.equal(broker.logs[r.partition]!.values[r.offset], values[k * 10 + i]!.value);
  }
  const resent = broker.sent.filter((s, i) => broker.sent.findIndex((x) => x.partition === s.partition && x.first === s.first) !== i);
  assert.ok(resent.length > 0, 'some batches were sent twice');
  for (const r of resent) {
    const firstSend = broker.sent.find((x) => x.partition === r.partition && x.first === r.first)!;
    assert.equal(r.seq, firstSend.seq, 'a retry carries its first sequence');
  }
});

test('a leader that lost the producer (UNKNOWN_PRODUCER_ID) after a dropped connection: the producer re-sequences every waiting retry under the next epoch, and every send is stored once, in order', async (t) => {
  const broker = await fakeBroker();
  t.after(() => broker.stop());
  const producer = new Producer({ url: broker.url, lingerMs: 0, reconnectBackoffMs: 10, reconnectBackoffMaxMs: 20, retryBackoffMs: 5, retryBackoffMaxMs: 20 });
  t.after(() => producer.close());
  await producer.send('t', { value: 'first', partition: 0 });
  broker.forget();
  broker.drop(3);
  const sends: Promise<SendResult[]>[] = [];
  const values: string[] = [];
  for (let k = 0; k < 3; k++) {
    const msgs = Array.from({ length: 5 }, (_, i) => ({ value: `s${k}-${i}`, partition: 0 }));
    values.push(...msgs.map((m) => m.value));
    sends.push(producer.send('t', msgs));
    // Next turn of the event loop: lingerMs 0 closes this send's batch first, so each send is its own request.
    await new Promise((r) => setImmediate(r));
  }
  // Without the fix the sends never settle: the first retry, re-sequenced, waits for a reset
  // that waits for the retries queued behind it. The bound only separates that from done.
  let timer: NodeJS.Timeout | undefined;
  const results = await Promise.race([
    Promise.all(sends),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('the sends did not settle within 30 s')), 30_000); }),
  ]).finally(() => clearTimeout(timer));
  assert.deepEqual(broker.logs[0]!.values, ['first', ...values], 'every message once, in order');
  assert.deepEqual(results.flat().map((r) => r.offset), values.map((_, i) => 1 + i));
  assert.equal(broker.producerIds, 1, 'the reset bumped the epoch of the same producer id (KIP-360), no new id asked for');
});
