import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBatch } from '../../src/record/index.js';
import { PendingSend, RecordAccumulator, type BatchCap } from '../../src/client/record-accumulator.js';
import { partitionForKey, StickyPartitioner } from '../../src/client/partitioner.js';
import type { SendResult } from '../../src/client/types.js';

function pending(n: number, withResults = true) {
  const state = { resolved: false, error: null as Error | null };
  const results = withResults ? new Array<SendResult>(n) : null;
  const ps = new PendingSend(n, results, () => { state.resolved = true; }, (e) => { state.error = e; });
  return { ps, results, state };
}

const value = (i: number) => Buffer.alloc(100, i & 0xff);

test('keyed messages go to their murmur2 partition; one batch per partition', () => {
  const acc = new RecordAccumulator(1 << 20);
  const msgs = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, value: value(i) }));
  const { ps } = pending(msgs.length);
  acc.append('t', 4, msgs, ps);
  assert.equal(acc.ready.length, 0);
  acc.closeAll();
  const parts = acc.ready.map((b) => b.partition).sort();
  assert.deepEqual(parts, [...new Set(parts)]);
  for (const b of acc.ready) {
    for (const r of b.records) assert.equal(partitionForKey(r.key as string, 4), b.partition);
  }
  assert.equal(acc.ready.reduce((n, b) => n + b.records.length, 0), 50);
});

test('keyless messages stick to one partition until the batch closes', () => {
  let r = 0;
  const acc = new RecordAccumulator(10_000, new StickyPartitioner(() => [0.0, 0.5, 0.9][r++ % 3]));
  // ~112 bytes per record estimate -> a 10 kB batch closes after ~88 records
  const msgs = Array.from({ length: 300 }, (_, i) => ({ value: value(i) }));
  const { ps } = pending(msgs.length);
  acc.append('t', 3, msgs, ps);
  assert.ok(acc.ready.length >= 2, `expected full batches, got ${acc.ready.length}`);
  for (let i = 1; i < acc.ready.length; i++) assert.notEqual(acc.ready[i].partition, acc.ready[i - 1].partition);
  for (const b of acc.ready) assert.ok(b.bytes <= 10_000, `batch of ${b.bytes} bytes`);
  // each full batch is one run of the one send() call
  for (const b of acc.ready) assert.equal(b.runs.length, 1);
});

test('a batch encodes once into a valid RecordBatch and completes offsets in call order', () => {
  const acc = new RecordAccumulator(1 << 20);
  const msgs = [
    { key: 'a', value: 'one', partition: 1 },
    { value: 'two', partition: 0, headers: [{ key: 'h', value: 'v' }] },
    { value: 'three', partition: 1, timestamp: 1_700_000_000_000 },
  ];
  const { ps, results, state } = pending(msgs.length);
  acc.append('t', 2, msgs, ps);
  acc.closeAll();
  const batches = acc.takeReady(1 << 20);
  assert.equal(batches.length, 2);
  const p1 = batches.find((b) => b.partition === 1)!;
  const decoded = decodeBatch(p1.encoded!);
  assert.deepEqual(decoded.records.map((x) => x.value!.toString()), ['one', 'three']);
  assert.equal(decoded.records[1].timestamp, 1_700_000_000_000);
  p1.complete(100);
  assert.equal(state.resolved, false);
  batches.find((b) => b.partition === 0)!.complete(7);
  assert.equal(state.resolved, true);
  assert.deepEqual(results, [
    { topic: 't', partition: 1, offset: 100 },
    { topic: 't', partition: 0, offset: 7 },
    { topic: 't', partition: 1, offset: 101 },
  ]);
});

test('takeReady puts at most one batch per partition in a request and respects maxBytes', () => {
  const acc = new RecordAccumulator(2_000);
  const msgs = Array.from({ length: 100 }, (_, i) => ({ value: value(i), partition: i < 60 ? 0 : 1 }));
  const { ps } = pending(msgs.length, false);
  acc.append('t', 2, msgs, ps);
  acc.closeAll();
  const total = acc.ready.length;
  const first = acc.takeReady(1 << 20);
  assert.deepEqual(first.map((b) => b.partition).sort(), [0, 1]);
  assert.equal(acc.ready.length, total - 2);
  const small = acc.takeReady(1);
  assert.equal(small.length, 1, 'a request always carries at least one batch');
});

test('invalid messages reject before anything is queued', () => {
  const acc = new RecordAccumulator(1 << 20);
  const { ps } = pending(2);
  assert.throws(() => acc.append('t', 2, [{ value: 'ok' }, { value: 'x', partition: 5 }], ps), /partition 5/);
  assert.throws(() => acc.append('t', 2, [{ value: 42 as unknown as string }], ps), /value must be/);
  acc.closeAll();
  assert.equal(acc.ready.length, 0);
  assert.equal(acc.bufferedBytes, 0);
});

test('a failed batch rejects every send() with records in it, once', () => {
  const acc = new RecordAccumulator(1 << 20);
  const a = pending(2);
  const b = pending(1);
  acc.append('t', 1, [{ value: 'x' }, { value: 'y' }], a.ps);
  acc.append('t', 1, [{ value: 'z' }], b.ps);
  acc.closeAll();
  const [batch] = acc.takeReady(1 << 20);
  assert.equal(batch.runs.length, 2);
  batch.fail(new Error('boom'));
  assert.equal(a.state.error?.message, 'boom');
  assert.equal(b.state.error?.message, 'boom');
  assert.equal(a.state.resolved, false);
});

test('under a cap: a message that cannot fit alone is refused before anything of its send is queued; batches close short of the cap', () => {
  const cap: BatchCap = { bytes: 4096, limit: 'maxFrameBytes', limitBytes: 4200, text: "the broker's maxFrameBytes 4200" };
  const acc = new RecordAccumulator(1 << 20);
  const { ps } = pending(3);
  assert.throws(() => acc.append('t', 1, [{ value: value(0) }, { value: Buffer.alloc(5000) }, { value: value(2) }], ps, cap),
    (e: Error & { code?: string }) => e.code === 'MESSAGE_TOO_LARGE' && /message 1 is 5073 bytes .*maxFrameBytes 4200/.test(e.message));
  assert.equal(acc.bufferedBytes, 0);
  assert.equal(acc.hasOpen, false);

  const many = pending(100);
  acc.append('t', 1, Array.from({ length: 100 }, (_, i) => ({ value: value(i) })), many.ps, cap);
  acc.closeAll();
  assert.ok(acc.ready.length >= 3, `${acc.ready.length} batches`);
  for (const b of acc.takeReady(1 << 20)) assert.ok(b.bytes <= cap.bytes, `a batch of ${b.bytes} bytes`);
});
