import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeBatch, validateBatches, decodeBatch, RECORD_COUNT, RECORDS, LAST_OFFSET_DELTA, type RecordInput } from '../../src/record/index.js';
import { CorruptBatchError, InvalidRecordError, SluiceError } from '../../src/errors.js';
import { LIE_KINDS, LIE_REFUSAL, lie, reframe, withFirstTimestampAsBase } from './batch-lies.js';

const bytes = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
const record: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(bytes, { nil: null }),
  value: fc.option(bytes, { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: fc.option(bytes, { nil: null }) }), { maxLength: 3 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
});
const batch = fc.array(record, { minLength: 1, maxLength: 80 }).map((recs) => encodeBatch(recs));

test('any valid batch passes, alone or concatenated, and counts its records', () => {
  fc.assert(fc.property(fc.array(batch, { minLength: 1, maxLength: 4 }), (bs) => {
    const res = validateBatches(Buffer.concat(bs));
    assert.deepEqual(res, { batches: bs.length, records: bs.reduce((n, b) => n + b.readInt32BE(RECORD_COUNT), 0) });
  }));
});

test('a Kafka-style batch (base timestamp = first record, negative deltas) passes', () => {
  fc.assert(fc.property(batch, (b) => {
    const k = withFirstTimestampAsBase(b);
    // Same records, laid out differently: the decoder agrees.
    assert.deepEqual(decodeBatch(k).records.map((r) => r.timestamp), decodeBatch(b).records.map((r) => r.timestamp));
    assert.equal(validateBatches(k).records, b.readInt32BE(RECORD_COUNT));
  }));
});

test('any single-field lie, with a valid CRC, is refused with the right code and a message naming it', () => {
  fc.assert(fc.property(
    fc.array(batch, { maxLength: 2 }), batch, fc.constantFrom(...LIE_KINDS), fc.integer({ min: -1000, max: 1000 }), fc.nat(),
    (good, b, kind, k, at) => {
      const bad = lie(b, kind, k, at);
      const set = Buffer.concat([...good, bad]); // a lie anywhere in the set refuses all of it
      const want = LIE_REFUSAL[kind];
      assert.throws(() => validateBatches(set), (e: unknown) => {
        assert.ok(e instanceof SluiceError, String(e));
        assert.equal(e.code, want.code, `${kind}: ${e.message}`);
        assert.match(e.message, want.message, kind);
        assert.ok(e instanceof (want.code === 'INVALID_RECORD' ? InvalidRecordError : CorruptBatchError));
        return true;
      });
    },
  ), { numRuns: 1000 });
});

test('whatever bytes of the records change (CRC recomputed), an accepted batch tells the truth', () => {
  fc.assert(fc.property(batch, fc.nat(), fc.integer({ min: 1, max: 255 }), (b, at, xor) => {
    const c = Buffer.from(b);
    c[RECORDS + (at % (c.length - RECORDS))] ^= xor;
    reframe(c);
    let accepted = true;
    try {
      validateBatches(c);
    } catch (e) {
      assert.ok(e instanceof CorruptBatchError || e instanceof InvalidRecordError, String(e));
      accepted = false;
    }
    if (!accepted) return;
    const { header, records } = decodeBatch(c);
    assert.equal(records.length, header.recordCount);
    assert.equal(header.lastOffsetDelta, header.recordCount - 1);
    records.forEach((r, i) => assert.equal(r.offset, i));
    assert.equal(header.maxTimestamp, Math.max(...records.map((r) => r.timestamp)));
  }), { numRuns: 2000 });
});

test('the reported lie: one record claiming lastOffsetDelta 999', () => {
  const b = encodeBatch([{ value: 'only one' }]);
  b.writeInt32BE(999, LAST_OFFSET_DELTA);
  reframe(b);
  assert.throws(() => validateBatches(b), {
    code: 'INVALID_RECORD', message: 'batch at 0: last offset delta 999 does not match record count 1 (must be count - 1 = 0)',
  });
});

test('a header claiming more records than the batch holds names both numbers', () => {
  const b = encodeBatch([{ value: 'a' }, { value: 'b' }]);
  b.writeInt32BE(5, RECORD_COUNT);
  b.writeInt32BE(4, LAST_OFFSET_DELTA);
  assert.throws(() => validateBatches(reframe(b)), { code: 'INVALID_RECORD', message: 'batch at 0: record count 5 but the batch holds only 2 records' });
});

test('compressed batches are refused: there is no codec, so the records could not be walked', () => {
  const b = encodeBatch([{ value: 'a' }]);
  b.writeInt16BE(1, 21); // attributes: gzip
  assert.throws(() => validateBatches(reframe(b)), { code: 'CORRUPT_MESSAGE', message: /compressed batches are not supported/ });
});
