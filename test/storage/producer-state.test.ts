import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidProducerEpochError, OutOfOrderSequenceError, UnknownProducerIdError } from '../../src/storage/errors.js';
import { lastSequenceOf, PRODUCER_BATCHES_KEPT, ProducerStateTable, type ProducerBatch } from '../../src/storage/producer-state.js';

const batch = (producerId: number, producerEpoch: number, baseSequence: number, records: number): ProducerBatch =>
  ({ producerId, producerEpoch, baseSequence, lastSequence: lastSequenceOf(baseSequence, records) });

/** A leader's append path reduced to the producer check: a log of [producerId, firstSeq] per stored batch. */
class Leader {
  readonly table = new ProducerStateTable();
  readonly log: { b: ProducerBatch; offset: number }[] = [];
  private end = 0;
  append(b: ProducerBatch, records: number): number {
    const c = this.table.check(b);
    if (c.kind === 'duplicate') return c.firstOffset;
    const first = this.end;
    this.end += records;
    this.log.push({ b, offset: first });
    this.table.record(b, first, this.end - 1, Date.now());
    return first;
  }
}

test('a producer that retries any of its last five batches, in any order, stores each batch once and in sequence', () => {
  // A producer sends batches 0..n-1 (3 records each); after each send it may retry any batch
  // still within its in-flight window of five, as it does after a lost answer.
  const arb = fc.record({ n: fc.integer({ min: 1, max: 40 }), retries: fc.array(fc.nat(), { maxLength: 80 }) });
  fc.assert(fc.property(arb, ({ n, retries }) => {
    const leader = new Leader();
    const offsets: number[] = [];
    let r = 0;
    for (let i = 0; i < n; i++) {
      offsets.push(leader.append(batch(7, 0, i * 3, 3), 3));
      for (; r < retries.length && retries[r]! % 3 !== 0; r++) {
        const back = Math.min(i, retries[r]! % PRODUCER_BATCHES_KEPT);
        const again = leader.append(batch(7, 0, (i - back) * 3, 3), 3);
        assert.equal(again, offsets[i - back], 'a retry is answered with the offsets of the first store');
      }
      r++;
    }
    assert.deepEqual(leader.log.map((x) => x.b.baseSequence), Array.from({ length: n }, (_, i) => i * 3), 'each batch stored once, in order');
  }));
});

test('a gap in the sequence is refused naming the expected sequence: storing it would hide a lost batch', () => {
  const leader = new Leader();
  leader.append(batch(1, 0, 0, 2), 2);
  assert.throws(() => leader.append(batch(1, 0, 5, 1), 1), (e: unknown) => e instanceof OutOfOrderSequenceError && /expected sequence 2, got 5/.test(e.message));
  // A batch older than the five remembered ones is not a known duplicate: refused, not stored again.
  for (let i = 0; i < 6; i++) leader.append(batch(1, 0, 2 + i, 1), 1);
  assert.throws(() => leader.append(batch(1, 0, 2, 1), 1), OutOfOrderSequenceError);
  assert.equal(leader.log.length, 7);
});

test('epochs fence older sessions of a producer id; a new epoch starts at sequence 0', () => {
  const leader = new Leader();
  leader.append(batch(1, 3, 0, 1), 1);
  assert.throws(() => leader.append(batch(1, 2, 1, 1), 1), (e: unknown) => e instanceof InvalidProducerEpochError && /epoch 2 is older than its current epoch 3/.test(e.message));
  assert.throws(() => leader.append(batch(1, 4, 9, 1), 1), OutOfOrderSequenceError);
  leader.append(batch(1, 4, 0, 1), 1);
  assert.throws(() => leader.append(batch(1, 3, 1, 1), 1), InvalidProducerEpochError, 'the old epoch stays fenced');
});

test('an unknown producer id must start at 0; sequences wrap from 2^31-1 to 0', () => {
  const leader = new Leader();
  assert.throws(() => leader.append(batch(9, 0, 4, 1), 1), UnknownProducerIdError);
  const t = new ProducerStateTable();
  const top = 0x7fffffff;
  t.record(batch(2, 0, top - 1, 2), 0, 1, 0);
  assert.equal(lastSequenceOf(top, 3), 1);
  assert.deepEqual(t.check(batch(2, 0, 0, 1)), { kind: 'append' });
  assert.throws(() => t.check(batch(2, 0, 1, 1)), /expected sequence 0, got 1/);
});

test('after the log is truncated, a retry of a cut batch is stored again, not answered as a duplicate', () => {
  // A follower that becomes leader after truncating the old leader's unacknowledged tail must
  // store the producer's retry: answering it with the cut offsets would lose the records.
  const leader = new Leader();
  for (let i = 0; i < 4; i++) leader.append(batch(1, 0, i, 1), 1);
  leader.table.truncateTo(2);
  assert.deepEqual(leader.table.check(batch(1, 0, 2, 1)), { kind: 'append' });
  assert.deepEqual(leader.table.check(batch(1, 0, 1, 1)), { kind: 'duplicate', firstOffset: 1, lastOffset: 1 });
  leader.table.truncateTo(0);
  assert.equal(leader.table.size, 0);
});

test('a snapshot restores the same decisions; a malformed one is refused; idle producers expire', () => {
  const t = new ProducerStateTable();
  t.record(batch(1, 0, 0, 2), 10, 11, 1000);
  t.record(batch(2, 5, 0, 1), 12, 12, 5000);
  const back = ProducerStateTable.fromSnapshot(JSON.parse(JSON.stringify(t.snapshot(13))));
  assert.deepEqual(back.check(batch(1, 0, 0, 2)), { kind: 'duplicate', firstOffset: 10, lastOffset: 11 });
  assert.throws(() => back.check(batch(2, 4, 1, 1)), InvalidProducerEpochError);
  assert.throws(() => ProducerStateTable.fromSnapshot({ version: 2, producers: [] }), /not a version 1 snapshot/);
  assert.throws(() => ProducerStateTable.fromSnapshot({ version: 1, offset: 0, producers: [{ id: 1, epoch: 0, lastTimestamp: 0, batches: [[1, 2]] }] }), /producer 1 is malformed/);
  assert.equal(back.expire(5000 + 1000, 2000), 1, 'the producer idle for 5 s went, the one idle for 1 s stayed');
  assert.equal(back.size, 1);
});
