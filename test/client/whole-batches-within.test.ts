// wholeBatchesWithin: where the Consumer cuts a big fetch into deliveries. Cuts fall only on
// batch boundaries, always take at least one batch, and never drop bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/record/index.js';
import { decodeMessages, wholeBatchesWithin } from '../../src/client/message-decoder.js';
import type { Message } from '../../src/client/types.js';

const batch = (base: number, n: number, size: number) =>
  encodeBatch(Array.from({ length: n }, () => ({ value: Buffer.alloc(size, 1) })), { baseOffset: base });

test('cuts on batch boundaries, at least one batch, the rest delivered later in order', () => {
  const bs = [batch(0, 10, 100), batch(10, 10, 100), batch(20, 10, 100)];
  const all = Buffer.concat(bs);
  assert.equal(wholeBatchesWithin(all, all.length), all.length);
  assert.equal(wholeBatchesWithin(all, bs[0].length + bs[1].length), bs[0].length + bs[1].length);
  assert.equal(wholeBatchesWithin(all, bs[0].length + 1), bs[0].length);
  assert.equal(wholeBatchesWithin(all, 10), bs[0].length); // smaller than one batch: still one
  const offsets: number[] = [];
  for (let rest = all; rest.length > 0;) {
    const cut = wholeBatchesWithin(rest, bs[0].length + 5);
    const out: Message[] = [];
    decodeMessages(rest.subarray(0, cut), 't', 0, 0, out);
    offsets.push(...out.map((m) => m.offset));
    rest = rest.subarray(cut);
  }
  assert.deepEqual(offsets, Array.from({ length: 30 }, (_, i) => i));
});

test('a trailing partial batch causes no cut (the decoder ignores it)', () => {
  const a = batch(0, 5, 50);
  const b = batch(5, 5, 50);
  const buf = Buffer.concat([a, b.subarray(0, b.length - 3)]);
  assert.equal(wholeBatchesWithin(buf, a.length + 1), buf.length);
});
