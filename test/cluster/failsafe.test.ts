// Failsafe mode's rules (src/cluster/failsafe.ts), pure, on a clock the test moves: the
// answerer's grant/refuse decision, the promise a grant makes (a leadership gained after it
// holds its writes for P), and the asker's write window (W after the start of a round every
// peer granted, closed at once by a refusal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Failsafe, decideGrant, failsafeWindows, type GrantInputs } from '../../src/cluster/failsafe.js';

const TTL = 6000;
const base: GrantInputs = { askerNodeId: 1, askerViewRevision: 50, ownNodeId: 2, ownViewRevision: 50, etcdSilentMs: 5000, silenceNeededMs: 5000 };

test('windows: P is the TTL, W half of it, rounds every TTL/3', () => {
  assert.deepEqual(failsafeWindows(TTL), { promiseMs: 6000, writeWindowMs: 3000, roundIntervalMs: 2000 });
});

test('grants only when etcd has been silent for the answerer as long as its own fence needs, and its view is not newer than the asker\'s', () => {
  assert.deepEqual(decideGrant(base), { granted: true });
  assert.deepEqual(decideGrant({ ...base, ownViewRevision: 49 }), { granted: true }, 'an older view than the asker\'s grants');
  const sees = decideGrant({ ...base, etcdSilentMs: 4999 });
  assert.equal(sees.granted, false);
  assert.match(!sees.granted ? sees.reason : '', /broker 2 reaches etcd \(last answer 4999 ms ago\)/);
  const newer = decideGrant({ ...base, ownViewRevision: 51 });
  assert.equal(newer.granted, false);
  assert.match(!newer.granted ? newer.reason : '', /revision 51, newer than 50 of broker 1/);
  assert.equal(decideGrant({ ...base, ownNodeId: 1 }).granted, false, 'nobody grants itself');
});

test('a grant is a promise: a leadership gained after it is held for P; one gained before is not', () => {
  let now = 100_000;
  const f = new Failsafe(failsafeWindows(TTL), () => now);
  const before = now - 1;
  assert.equal(f.held(now, now), false, 'no grant given: nothing held');
  assert.equal(f.answer(base).granted, true);
  const grantedAt = now;
  now += 10;
  assert.equal(f.held(before, now), false, 'a leadership older than the grant is not held');
  assert.equal(f.held(now, now), true, 'a leadership gained after the grant is held');
  now = grantedAt + TTL - 1;
  assert.equal(f.held(grantedAt + 10, now), true, 'still held just before P ran out');
  now = grantedAt + TTL;
  assert.equal(f.held(grantedAt + 10, now), false, 'free once P ran out');
  // A refused check promises nothing.
  assert.equal(f.answer({ ...base, etcdSilentMs: 0 }).granted, false);
  assert.equal(f.held(now, now + 1), false);
  assert.equal(f.promisedUntil(), grantedAt + TTL);
});

test('the latest grant at or before a gain decides: later grants do not extend older leaderships', () => {
  let now = 0;
  const f = new Failsafe(failsafeWindows(TTL), () => now);
  f.answer(base); // t = 0
  now = 1000;
  const gained = now; // between two grants
  now = 2000;
  f.answer(base); // t = 2000
  now = TTL; // the first promise ran out, the second has not
  assert.equal(f.held(gained, now), false, 'held only by the grant before it');
  assert.equal(f.held(2500, now), true, 'a gain after the second grant is held by it');
});

test('the asker writes until W after the start of a round every peer granted; a refusal or a missing answer closes it at once', () => {
  let now = 0;
  const f = new Failsafe(failsafeWindows(TTL), () => now);
  assert.equal(f.writable(now), false, 'no round yet');
  f.roundEnded(0, true);
  now = 2999;
  assert.equal(f.writable(now), true, 'within W of the round start');
  now = 3000;
  assert.equal(f.writable(now), false, 'W ran out: fenced again until the next full round');
  f.roundEnded(2000, true);
  assert.equal(f.writable(now), true);
  f.roundEnded(1500, true);
  now = 4999;
  assert.equal(f.writable(now), true, 'an older round finishing late does not move the window back');
  f.roundEnded(4000, false);
  assert.equal(f.writable(now), false, 'a refusal fences at once');
  f.roundEnded(4500, true);
  assert.equal(f.writable(now), true);
  f.reset();
  assert.equal(f.writable(now), false, 'reset (session back) forgets the rounds');
  assert.ok(3000 < failsafeWindows(TTL).promiseMs, 'W < P: the asker stops before any promise it got runs out');
});
