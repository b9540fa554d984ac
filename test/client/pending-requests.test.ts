// A connection's table of requests in flight (client/pending-requests.ts): found by id, an
// answer for an id no longer in flight never matches a newer request in the same slot, a
// request in flight for long (a parked long poll) survives any number of later ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingRequests } from '../../src/client/pending-requests.js';

test('requests are found by id; a timed-out id sharing a slot with a newer request finds nothing', () => {
  const t = new PendingRequests<string>();
  t.set(1, 'a');
  t.set(2, 'b');
  assert.equal(t.get(1), 'a');
  assert.equal(t.size, 2);
  assert.equal(t.delete(1), true);
  assert.equal(t.delete(1), false);
  t.set(65, 'c'); // slot of 1 in a 64-slot table
  assert.equal(t.get(1), undefined, 'the late answer of request 1 does not reach request 65');
  assert.equal(t.get(65), 'c');
  assert.deepEqual([...t.entries()].sort(), [[2, 'b'], [65, 'c']]);
});

test('a request older than any number of later ones stays found (the table grows, then overflows to a Map)', () => {
  const t = new PendingRequests<number>();
  t.set(1, 1); // parked for the whole test
  for (let id = 2; id <= 200_000; id++) {
    t.set(id, id);
    if (id % 3 !== 0) assert.equal(t.delete(id), true);
  }
  assert.equal(t.get(1), 1);
  assert.equal(t.get(3), 3);
  assert.equal(t.get(199_998), 199_998);
  assert.equal(t.get(199_999), undefined);
  assert.equal(t.size, 1 + Math.floor(200_000 / 3));
  let n = 0;
  for (const [id] of t.entries()) {
    assert.equal(t.delete(id), true); // failAll deletes while it iterates
    n++;
  }
  assert.equal(n, 1 + Math.floor(200_000 / 3));
  assert.equal(t.size, 0);
});
