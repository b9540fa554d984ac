/**
 * Any sequence of acquire/ack/release/reject/extend/expire/worker-gone and of dead-letter
 * writes that succeed or fail: a record is never held by two workers at once, a record waiting
 * for its dead-letter copy is never handed out nor archived before the copy is written, and
 * once everything is drained every record ended acked or archived exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SharePartition } from '../../src/queue/share-partition.js';
import { DEFAULT_SHARE_GROUP_CONFIG } from '../../src/queue/types.js';
import { offsetsOf } from './helpers.js';

const W = 4;
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
const op = fc.oneof(
  fc.record({ k: fc.constant('acquire' as const), w: fc.integer({ min: 1, max: W }), n: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ k: fc.constantFrom('ack' as const, 'release' as const, 'reject' as const, 'extend' as const), w: fc.integer({ min: 1, max: W }), pick: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 400 }) }),
  fc.record({ k: fc.constant('gone' as const), w: fc.integer({ min: 1, max: W }) }),
  fc.record({ k: fc.constant('produce' as const), n: fc.integer({ min: 1, max: 5 }) }),
  // The broker's dead-letter write: copies the waiting records, or fails and leaves them waiting.
  fc.record({ k: fc.constant('dlq' as const), ok: fc.boolean() }),
);

test('no record is held twice at once; every record is settled exactly once', () => {
  fc.assert(fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 1, max: 4 }), (ops, maxDeliveries) => {
    const cfg = { ...DEFAULT_SHARE_GROUP_CONFIG, visibilityTimeoutMs: 300, retryBackoffMs: 10, retryBackoffMaxMs: 80, maxDeliveries, maxWindow: 16 };
    const p = new SharePartition('g', 't', 0, () => cfg, 0);
    let now = 0;
    let logEnd = 5;
    const holder = new Map<number, number>(); // offset -> worker, per the model
    const settled = new Map<number, number>(); // offset -> times settled
    const settle = (o: number) => settled.set(o, (settled.get(o) ?? 0) + 1);
    const waitingForCopy = new Set<number>();
    const deadLettered = (dls: readonly { offset: number }[]) => {
      for (const d of dls) {
        settle(d.offset);
        waitingForCopy.add(d.offset);
      }
    };
    const archivedBefore = p.deadLettered;
    const writeCopies = () => {
      const before = p.deadLettered;
      assert.equal(before - archivedBefore + waitingForCopy.size + p.acked, [...settled.keys()].length, 'archived only after its copy');
      assert.equal(p.deadLettersWritten([...waitingForCopy]), waitingForCopy.size);
      waitingForCopy.clear();
    };
    const dropExpired = (offs: number[]) => { for (const o of offs) holder.delete(o); };
    const held = (w: number) => [...holder].filter(([, h]) => h === w).map(([o]) => o);
    const apply = (o: Op) => {
      if (o.k === 'acquire') {
        dropExpired(p.expire(now).expired);
        for (const off of offsetsOf(p.acquire(o.w, o.n, now, logEnd))) {
          assert.ok(!holder.has(off), `offset ${off} handed to ${o.w} while ${holder.get(off)} holds it`);
          assert.ok(!settled.has(off), `settled offset ${off} handed out again`);
          holder.set(off, o.w);
        }
      } else if (o.k === 'tick') {
        now += o.ms;
        const r = p.expire(now);
        dropExpired(r.expired);
        deadLettered(r.deadLetters);
      } else if (o.k === 'gone') {
        const r = p.workerGone(o.w, now);
        assert.deepEqual(new Set(r.expired), new Set(held(o.w)));
        dropExpired(r.expired);
        deadLettered(r.deadLetters);
      } else if (o.k === 'produce') {
        logEnd += o.n;
      } else if (o.k === 'dlq') {
        if (o.ok) writeCopies();
        for (const off of waitingForCopy) assert.ok(p.awaitingDeadLetter(off), `offset ${off} left the dead-letter writer without its copy`);
      } else {
        const mine = held(o.w).slice(0, o.pick);
        if (o.k === 'ack') { p.ack(o.w, mine); for (const x of mine) { holder.delete(x); settle(x); } }
        if (o.k === 'reject') { deadLettered(p.reject(o.w, mine)); for (const x of mine) holder.delete(x); }
        if (o.k === 'release') { deadLettered(p.release(o.w, mine, now)); dropExpired(mine); }
        if (o.k === 'extend' && mine.length) p.extend(o.w, mine, now);
        // A record someone else holds is refused.
        const other = [...holder].find(([, h]) => h !== o.w);
        if (other) assert.throws(() => p.ack(o.w, [other[0]]), /INVALID_RECORD_STATE|another worker/);
      }
      // A record waiting for its copy is still in flight (held by the dead-letter writer).
      assert.equal(p.inFlight, holder.size + waitingForCopy.size);
    };
    for (const o of ops) apply(o);
    // Drain: worker 1 acks everything it can get until the log is done.
    for (let guard = 0; guard < 10_000 && settled.size < logEnd; guard++) {
      now += 1000;
      const r = p.expire(now);
      dropExpired(r.expired);
      deadLettered(r.deadLetters);
      writeCopies();
      const got = offsetsOf(p.acquire(1, 50, now, logEnd));
      p.ack(1, got);
      for (const x of got) settle(x);
    }
    writeCopies();
    assert.equal(settled.size, logEnd);
    for (const [off, n] of settled) assert.equal(n, 1, `offset ${off} settled ${n} times`);
    assert.equal(p.startOffset, logEnd);
    assert.equal(p.acked + p.deadLettered, logEnd);
  }), { numRuns: 300 });
});
