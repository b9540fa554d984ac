/**
 * The leader-epoch cache's rules (Kafka's LeaderEpochFileCache) and the checkpoint's text
 * format. The property test drives the cache the way a partition log does (appends at
 * non-decreasing epochs, truncations, retention) beside a model that keeps the epoch of
 * every stored offset, and checks that the cache describes the model exactly and answers
 * endOffsetFor as Kafka does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET } from '../../src/storage/leader-epoch-cache.js';
import { CheckpointFormatError, formatCheckpoint, parseCheckpoint } from '../../src/storage/leader-epoch-checkpoint.js';

const entries = (c: LeaderEpochCache) => c.entries().map((e) => [e.epoch, e.startOffset]);
const UNDEF = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };

test('assign: a new epoch is appended, the latest epoch again is a no-op, an older epoch is ignored', () => {
  const c = new LeaderEpochCache();
  assert.equal(c.assign(0, 0), true);
  assert.equal(c.assign(0, 5), false, 'later appends of the current epoch change nothing');
  assert.equal(c.assign(2, 10), true);
  assert.equal(c.assign(1, 12), false, 'a stale epoch cannot erase what a newer leader wrote');
  assert.deepEqual(entries(c), [[0, 0], [2, 10]]);
  assert.equal(c.latestEpoch(), 2);
});

test('assign: entries starting at or after the new entry conflict with it and are removed', () => {
  const c = new LeaderEpochCache([{ epoch: 0, startOffset: 0 }, { epoch: 1, startOffset: 10 }, { epoch: 2, startOffset: 20 }]);
  assert.equal(c.assign(3, 10), true);
  assert.deepEqual(entries(c), [[0, 0], [3, 10]]);
  assert.equal(c.assign(3, 4), true, 'the latest epoch at a smaller offset moves back (Kafka)');
  assert.deepEqual(entries(c), [[0, 0], [3, 4]]);
  assert.throws(() => c.assign(-1, 0), RangeError);
  assert.throws(() => c.assign(4, -1), RangeError);
});

test('endOffsetFor answers as Kafka: latest epoch, between epochs, smaller and larger than any known, undefined', () => {
  const c = new LeaderEpochCache([{ epoch: 2, startOffset: 5 }, { epoch: 4, startOffset: 9 }, { epoch: 7, startOffset: 20 }]);
  assert.deepEqual(c.endOffsetFor(7, 33), { epoch: 7, endOffset: 33 }, 'the latest epoch ends at the log end');
  assert.deepEqual(c.endOffsetFor(4, 33), { epoch: 4, endOffset: 20 }, 'a known epoch ends where the next starts');
  assert.deepEqual(c.endOffsetFor(5, 33), { epoch: 4, endOffset: 20 }, 'an unknown epoch between: the largest below it, and its end');
  assert.deepEqual(c.endOffsetFor(1, 33), { epoch: 1, endOffset: 5 }, 'smaller than any known: the requested epoch, at the first known start');
  assert.deepEqual(c.endOffsetFor(8, 33), UNDEF, 'larger than any known');
  assert.deepEqual(c.endOffsetFor(UNDEFINED_EPOCH, 33), UNDEF);
  assert.deepEqual(new LeaderEpochCache().endOffsetFor(0, 10), UNDEF, 'an empty cache knows nothing');
});

test('truncateFromEnd removes entries at or after the end; truncateFromStart moves the newest older entry up', () => {
  const c = new LeaderEpochCache([{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 10 }, { epoch: 3, startOffset: 20 }]);
  assert.equal(c.truncateFromEnd(25), false);
  assert.equal(c.truncateFromEnd(20), true);
  assert.deepEqual(entries(c), [[1, 0], [2, 10]]);
  assert.equal(c.truncateFromStart(5), true);
  assert.deepEqual(entries(c), [[1, 5], [2, 10]]);
  assert.equal(c.truncateFromStart(10), true, 'inclusive: an entry at the new start stays, the one before goes');
  assert.deepEqual(entries(c), [[2, 10]]);
  assert.equal(c.truncateFromStart(10), false);
  assert.equal(c.truncateFromStart(15), true);
  assert.deepEqual(entries(c), [[2, 15]]);
});

type Op = { kind: 'append'; bump: number; n: number } | { kind: 'truncate'; at: number } | { kind: 'retention'; at: number };

test('property: the cache describes the epochs of the stored offsets and answers endOffsetFor like the model', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), bump: fc.nat(2), n: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({ kind: fc.constant('retention' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: -1, max: 12 }), (ops, asked) => {
    const cache = new LeaderEpochCache();
    let start = 0;
    const epochOf: number[] = []; // epochOf[o] for o in [start, epochOf.length)
    let epoch = 0;
    for (const o of ops) {
      if (o.kind === 'append') {
        epoch += o.bump;
        cache.assign(epoch, epochOf.length);
        for (let i = 0; i < o.n; i++) epochOf.push(epoch);
      } else if (o.kind === 'truncate') {
        const at = start + Math.floor(o.at * (epochOf.length - start + 1));
        epochOf.length = Math.min(epochOf.length, at);
        cache.truncateFromEnd(at);
        // A leader keeps its epoch after a truncation; the next append may use it again.
      } else if (epochOf.length - start > 1) {
        // Retention never deletes the active segment, so at least one record stays here.
        start = start + Math.floor(o.at * (epochOf.length - start - 1));
        cache.truncateFromStart(start);
      }
    }
    const runs: [number, number][] = [];
    for (let off = start; off < epochOf.length; off++) if (runs.length === 0 || runs[runs.length - 1][0] !== epochOf[off]) runs.push([epochOf[off], off]);
    assert.deepEqual(entries(cache), runs);
    const end = epochOf.length;
    let want = UNDEF;
    if (runs.length > 0 && asked !== UNDEFINED_EPOCH) {
      const hi = runs.findIndex(([e]) => e > asked);
      if (asked === runs[runs.length - 1][0]) want = { epoch: asked, endOffset: end };
      else if (hi < 0) want = UNDEF;
      else if (hi === 0) want = { epoch: asked, endOffset: runs[0][1] };
      else want = { epoch: runs[hi - 1][0], endOffset: runs[hi][1] };
    }
    assert.deepEqual(cache.endOffsetFor(asked, end), want);
  }), { numRuns: 500 });
});

test('checkpoint text: Kafka layout, round trip, and a clear error for each kind of damage', () => {
  const list = [{ epoch: 0, startOffset: 0 }, { epoch: 3, startOffset: 1042 }];
  const text = formatCheckpoint(list);
  assert.equal(text, '0\n2\n0 0\n3 1042\n');
  assert.deepEqual(parseCheckpoint(text), list);
  assert.deepEqual(parseCheckpoint('0\n0\n'), []);
  for (const [bad, says] of [
    ['', /version/],
    ['1\n0\n', /version '1'/],
    ['0\n3\n0 0\n', /3 entries announced, 1 present/],
    ['0\n1\n0 x\n', /'0 x' is not 'epoch startOffset'/],
    ['0\n2\n2 10\n1 20\n', /does not follow/],
    ['0\n2\n1 10\n2 10\n', /does not follow/],
    ['0\n1\n0 0', null],
    ['0\n2\n0 0\n1 1', null],
    ['0\n2\n0 0\n1 1\0\0\0', /not 'epoch startOffset'/],
  ] as const) {
    if (says === null) assert.doesNotThrow(() => parseCheckpoint(bad), bad);
    else assert.throws(() => parseCheckpoint(bad), (e: Error) => e instanceof CheckpointFormatError && says.test(e.message), JSON.stringify(bad));
  }
});
