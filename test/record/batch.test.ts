import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodeBatch, decodeBatch, decodeBatches, validateBatch, validateBatches, setBaseOffset, readBatchHeader,
  lastOffsetOf, CRC, RECORDS, HEADER_SIZE,
} from '../../src/record/index.js';
import { CorruptBatchError } from '../../src/errors.js';

const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const record = fc.record({
  key: fc.option(bytes, { nil: null }),
  value: fc.option(bytes, { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: fc.option(bytes, { nil: null }) }), { maxLength: 3 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
});

test('round trip: every field survives encode then decode', () => {
  fc.assert(fc.property(fc.array(record, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 2 ** 50 }), (recs, base) => {
    const buf = encodeBatch(recs, { baseOffset: base });
    const { header, records } = decodeBatch(buf);
    assert.equal(header.baseOffset, base);
    assert.equal(header.recordCount, recs.length);
    assert.equal(header.size, buf.length);
    assert.equal(header.maxTimestamp, Math.max(...recs.map((r) => r.timestamp)));
    records.forEach((r, i) => {
      assert.equal(r.offset, base + i);
      assert.equal(r.timestamp, recs[i].timestamp);
      assert.deepEqual(r.key, recs[i].key);
      assert.deepEqual(r.value, recs[i].value);
      assert.deepEqual(r.headers.map((h) => ({ key: h.key, value: h.value })), recs[i].headers.map((h) => ({ key: h.key, value: h.value })));
    });
  }));
});

test('strings encode as utf-8 and records without timestamp take `now`', () => {
  const buf = encodeBatch([{ key: 'clé', value: 'välue' }, { value: null }], { now: 1_700_000_000_000 });
  const { records } = decodeBatch(buf);
  assert.equal(records[0].key!.toString(), 'clé');
  assert.equal(records[0].value!.toString(), 'välue');
  assert.equal(records[1].key, null);
  assert.equal(records[1].value, null);
  assert.equal(records[1].timestamp, 1_700_000_000_000);
});

test('the layout is Kafka RecordBatch v2: fixed header offsets and values', () => {
  const buf = encodeBatch([{ value: Buffer.from('a') }], { now: 5, baseOffset: 7 });
  assert.equal(HEADER_SIZE, 61);
  assert.equal(buf.readBigInt64BE(0), 7n);
  assert.equal(buf.readInt32BE(8), buf.length - 12);
  assert.equal(buf.readInt32BE(12), -1); // partition leader epoch
  assert.equal(buf.readInt8(16), 2); // magic
  assert.equal(buf.readBigInt64BE(27), 5n); // base timestamp
  assert.equal(buf.readBigInt64BE(43), -1n); // producer id
  assert.equal(buf.readInt32BE(57), 1); // record count
  // record: len=7? attributes 0, tsDelta 0, offsetDelta 0, key -1 (0x01), value len 1 (0x02), 'a', headers 0
  assert.deepEqual([...buf.subarray(RECORDS)], [0x0e, 0, 0, 0, 0x01, 0x02, 0x61, 0]);
});

test('rewriting baseOffset keeps the CRC valid (the CRC does not cover it)', () => {
  const buf = encodeBatch([{ value: 'x' }, { value: 'y' }]);
  setBaseOffset(buf, 0, 123_456_789_012);
  assert.equal(validateBatch(buf), buf.length);
  assert.equal(lastOffsetOf(buf), 123_456_789_013);
  assert.equal(readBatchHeader(buf).baseOffset, 123_456_789_012);
});

test('any flipped bit after the CRC field is caught', () => {
  const buf = encodeBatch([{ key: 'k', value: 'some value' }, { value: 'other' }]);
  for (let i = CRC; i < buf.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Buffer.from(buf);
      bad[i] ^= bit;
      assert.throws(() => validateBatch(bad), CorruptBatchError, `flip at ${i}`);
    }
  }
});

test('truncated, oversized, wrong-magic and empty inputs are refused with a typed error', () => {
  const buf = encodeBatch([{ value: 'abc' }]);
  for (let cut = 0; cut < buf.length; cut++) assert.throws(() => validateBatch(buf.subarray(0, cut)), CorruptBatchError);
  const magic = Buffer.from(buf);
  magic[16] = 1;
  assert.throws(() => validateBatch(magic), /magic 1/);
  const huge = Buffer.from(buf);
  huge.writeInt32BE(0x7fffffff, 8);
  assert.throws(() => validateBatch(huge), /runs past/);
  const neg = Buffer.from(buf);
  neg.writeInt32BE(-100, 8);
  assert.throws(() => validateBatch(neg), /shorter than the header/);
  assert.throws(() => validateBatches(Buffer.alloc(0)), CorruptBatchError);
});

test('validateBatches counts records across concatenated batches; decodeBatches ignores a cut tail', () => {
  const a = encodeBatch([{ value: '1' }, { value: '2' }], { baseOffset: 0 });
  const b = encodeBatch([{ value: '3' }], { baseOffset: 2 });
  const both = Buffer.concat([a, b]);
  assert.deepEqual(validateBatches(both), { batches: 2, records: 3 });
  const cut = both.subarray(0, both.length - 3);
  const got = [...decodeBatches(cut)].flatMap((d) => d.records.map((r) => r.value!.toString()));
  assert.deepEqual(got, ['1', '2']);
});
