// subsetBatch: a stored batch cut down to some of its records (a ShareAcquire's answer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeBatch, emptyCursor, encodeBatch, subsetBatch, validateBatch, type OffsetRange } from '../../src/record/index.js';
import { decodeMessages } from '../../src/client/message-decoder.js';
import type { Message } from '../../src/client/types.js';

const inRanges = (o: number, ranges: OffsetRange[]) => ranges.some((r) => o >= r.firstOffset && o <= r.lastOffset);

/** Sorted, disjoint ranges over base..base+n-1 from a list of cut points. */
function rangesFrom(base: number, n: number, cuts: number[]): OffsetRange[] {
  const pts = [...new Set(cuts.map((c) => c % n))].sort((a, b) => a - b);
  const out: OffsetRange[] = [];
  for (let i = 0; i + 1 < pts.length; i += 2) out.push({ firstOffset: base + pts[i], lastOffset: base + pts[i + 1] });
  return out;
}

test('subsetBatch keeps exactly the records inside the ranges, each with its offset, timestamp, key, value and headers, in a batch with a valid CRC', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.array(fc.nat(), { maxLength: 8 }),
    (n, base, cuts) => {
      const recs = Array.from({ length: n }, (_, i) => ({ key: i % 3 ? `k${i}` : null, value: Buffer.alloc(i * 7, i), timestamp: 1_000 + i * 13, ...(i % 4 === 0 && { headers: [{ key: 'h', value: Buffer.from([i]) }] }) }));
      const batch = encodeBatch(recs, { baseOffset: base });
      const ranges = rangesFrom(base, n, cuts);
      const out = subsetBatch(batch, 0, batch.length, ranges);
      const want = recs.map((r, i) => ({ ...r, offset: base + i })).filter((r) => inRanges(r.offset, ranges));
      if (want.length === 0) return assert.equal(out, null);
      assert.ok(out);
      assert.equal(validateBatch(out), out.length, 'framed, CRC good');
      const got = decodeBatch(out).records;
      assert.deepEqual(got.map((r) => r.offset), want.map((r) => r.offset));
      assert.deepEqual(got.map((r) => r.timestamp), want.map((r) => r.timestamp));
      assert.deepEqual(got.map((r) => r.key?.toString() ?? null), want.map((r) => r.key));
      assert.deepEqual(got.map((r) => r.value), want.map((r) => r.value));
      assert.deepEqual(got.map((r) => r.headers.length), want.map((r) => (r.headers ? 1 : 0)));
      if (want.length === n) assert.equal(out.buffer, batch.buffer, 'every record kept: the stored bytes, not a copy');
    },
  ));
});

test('subsetBatch of 31 records out of 1,000 is ~3 % of the batch, and the client decoder reads kept records of several cut batches at their offsets', () => {
  const big = encodeBatch(Array.from({ length: 1000 }, () => ({ value: 'x'.repeat(100) })), { baseOffset: 5000 });
  const cut = subsetBatch(big, 0, big.length, [{ firstOffset: 5100, lastOffset: 5130 }]);
  assert.ok(cut);
  assert.ok(cut.length < big.length / 25, `${cut.length} bytes of ${big.length}`);
  // Two stored batches, an acquire spanning their boundary plus one redelivered record.
  const b1 = encodeBatch(Array.from({ length: 10 }, (_, i) => ({ value: `a${i}` })), { baseOffset: 0 });
  const b2 = encodeBatch(Array.from({ length: 10 }, (_, i) => ({ value: `b${i}` })), { baseOffset: 10 });
  const ranges = [{ firstOffset: 2, lastOffset: 2 }, { firstOffset: 8, lastOffset: 12 }];
  const wire = Buffer.concat([subsetBatch(b1, 0, b1.length, ranges)!, subsetBatch(b2, 0, b2.length, ranges)!]);
  const msgs: Message[] = [];
  decodeMessages(wire, 't', 0, 2, msgs);
  assert.deepEqual(msgs.map((m) => `${m.offset}:${m.value!.toString()}`), ['2:a2', '8:a8', '9:a9', '10:b0', '11:b1', '12:b2']);
});

test('a walk cursor changes no answer: successive acquisitions of one batch (some going back, as redeliveries do) and another batch under the same cursor get what a walk from the start gets', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 80 }), fc.array(fc.array(fc.nat(), { maxLength: 6 }), { minLength: 1, maxLength: 12 }), fc.nat(),
    (n, acquisitions, other) => {
      // Records of different sizes, so a position taken for another record's start is wrong.
      const batch = encodeBatch(Array.from({ length: n }, (_, i) => ({ value: Buffer.alloc((i * 37) % 300, i) })), { baseOffset: 100 });
      const second = encodeBatch(Array.from({ length: n }, (_, i) => ({ value: Buffer.alloc((i * 11) % 50, i) })), { baseOffset: 100 + n });
      const cursor = emptyCursor();
      for (const [k, cuts] of acquisitions.entries()) {
        const [b, base] = k === other % acquisitions.length ? [second, 100 + n] : [batch, 100];
        const ranges = rangesFrom(base, n, cuts);
        const plain = subsetBatch(b, 0, b.length, ranges);
        const hinted = subsetBatch(b, 0, b.length, ranges, cursor);
        assert.deepEqual(hinted, plain);
      }
    },
  ));
});

test('the cursor is left at the first record past the last range, so the next acquisition of the batch starts its walk there', () => {
  const big = encodeBatch(Array.from({ length: 1000 }, (_, i) => ({ value: 'x'.repeat(i % 50) })), { baseOffset: 5000 });
  const cursor = emptyCursor();
  subsetBatch(big, 0, big.length, [{ firstOffset: 5000, lastOffset: 5063 }], cursor);
  assert.equal(cursor.base, 5000);
  assert.equal(cursor.offset, 5064);
  assert.equal(cursor.index, 64);
  const at = cursor.at;
  const next = subsetBatch(big, 0, big.length, [{ firstOffset: 5064, lastOffset: 5127 }], cursor)!;
  assert.deepEqual(decodeBatch(next).records.map((r) => r.offset), Array.from({ length: 64 }, (_, i) => 5064 + i));
  const moved = { ...cursor };
  assert.ok(moved.at > at, 'moved on past the second acquisition');
  assert.deepEqual([moved.offset, moved.index], [5128, 128]);
  // A redelivered record before the cursor: walked from the start, found.
  const back = subsetBatch(big, 0, big.length, [{ firstOffset: 5001, lastOffset: 5001 }, { firstOffset: 5128, lastOffset: 5130 }], cursor)!;
  assert.deepEqual(decodeBatch(back).records.map((r) => r.offset), [5001, 5128, 5129, 5130]);
});
