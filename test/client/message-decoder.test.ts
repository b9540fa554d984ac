import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch, setBaseOffset, CRC } from '../../src/record/index.js';
import { MessageDecoder, decodeMessages, nextOffsetAfter } from '../../src/client/message-decoder.js';
import type { Message } from '../../src/client/types.js';

function batchAt(base: number, values: string[], ts = 1_700_000_000_000): Buffer {
  const b = encodeBatch(values.map((v, i) => ({ key: i % 2 ? `k${i}` : null, value: v, timestamp: ts + i, ...(i === 0 && { headers: [{ key: 'h', value: 'x' }] }) })));
  setBaseOffset(b, 0, base);
  return b;
}

test('decodes every record with topic, partition, offset, timestamp, key, value, headers', () => {
  const buf = Buffer.concat([batchAt(10, ['a', 'b', 'c']), batchAt(13, ['d'])]);
  const out: Message[] = [];
  decodeMessages(buf, 't', 2, 0, out);
  assert.deepEqual(out.map((m) => [m.offset, m.value!.toString()]), [[10, 'a'], [11, 'b'], [12, 'c'], [13, 'd']]);
  assert.equal(out[0].topic, 't');
  assert.equal(out[0].partition, 2);
  assert.equal(out[1].timestamp, 1_700_000_000_001);
  assert.equal(out[0].key, null);
  assert.equal(out[1].key!.toString(), 'k1');
  assert.deepEqual(out[0].headers.map((h) => [h.key, h.value!.toString()]), [['h', 'x']]);
  assert.equal(nextOffsetAfter(buf), 14);
});

test('skips records below the requested offset within the first batch and ignores a partial tail', () => {
  const whole = batchAt(100, ['a', 'b', 'c', 'd']);
  const next = batchAt(104, ['e', 'f']);
  const buf = Buffer.concat([whole, next.subarray(0, next.length - 3)]);
  const out: Message[] = [];
  decodeMessages(buf, 't', 0, 102, out);
  assert.deepEqual(out.map((m) => m.offset), [102, 103]);
  assert.equal(nextOffsetAfter(buf), 104);
  assert.equal(nextOffsetAfter(Buffer.alloc(5)), -1);
});

test('a corrupted batch is refused with CORRUPT_MESSAGE, not returned', () => {
  const buf = batchAt(0, ['hello', 'world']);
  buf[buf.length - 2] ^= 0xff;
  assert.throws(() => decodeMessages(buf, 't', 0, 0, []), (e: any) => e.code === 'CORRUPT_MESSAGE');
  const bad = batchAt(0, ['x']);
  bad.writeUInt32BE(0, CRC);
  assert.throws(() => decodeMessages(bad, 't', 0, 0, []), /CRC/);
});

test('large values and multi-byte varints decode exactly', () => {
  const big = 'v'.repeat(70_000);
  const b = encodeBatch([{ value: big, timestamp: 5 }, { value: '', timestamp: 5 + 2 ** 40 }]);
  setBaseOffset(b, 0, 2 ** 40);
  const out: Message[] = [];
  decodeMessages(b, 't', 0, 0, out);
  assert.equal(out[0].value!.length, 70_000);
  assert.equal(out[1].offset, 2 ** 40 + 1);
  assert.equal(out[1].timestamp, 5 + 2 ** 40);
  assert.equal(out[1].value!.length, 0);
});

test('MessageDecoder hands out at most max records per call, resuming mid-batch, with the same result as one decode', () => {
  const buf = Buffer.concat([batchAt(0, ['a', 'b', 'c', 'd', 'e']), batchAt(5, ['f', 'g']), batchAt(7, ['h'])]);
  const all: Message[] = [];
  decodeMessages(buf, 't', 0, 2, all);
  const d = new MessageDecoder(buf, 't', 0, 2);
  const pieces: number[][] = [];
  const consumed: number[] = [];
  for (;;) {
    const out: Message[] = [];
    const more = d.next(out, 2);
    pieces.push(out.map((m) => m.offset));
    consumed.push(d.consumed);
    if (!more) break;
  }
  assert.deepEqual(pieces.flat(), all.map((m) => m.offset));
  assert.deepEqual(pieces.flat(), [2, 3, 4, 5, 6, 7]);
  assert.ok(pieces.every((p) => p.length <= 2));
  assert.equal(consumed.at(-1), buf.length);
  for (let i = 1; i < consumed.length; i++) assert.ok(consumed[i] >= consumed[i - 1], 'consumed never goes back');
});

test('MessageDecoder checks a batch\'s CRC before returning any of its records', () => {
  const good = batchAt(0, ['a', 'b']);
  const bad = batchAt(2, ['c', 'd', 'e']);
  bad[bad.length - 2] ^= 0xff;
  const d = new MessageDecoder(Buffer.concat([good, bad]), 't', 0, 0);
  const first: Message[] = [];
  assert.equal(d.next(first, 2), true);
  assert.deepEqual(first.map((m) => m.offset), [0, 1]);
  const second: Message[] = [];
  assert.throws(() => d.next(second, 2), (e: any) => e.code === 'CORRUPT_MESSAGE');
  assert.equal(second.length, 0);
});
