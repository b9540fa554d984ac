/**
 * Failed logins are slowed down per address (login-delay.ts; docs/security.md): 100 ms, then
 * doubling per failure from the same address up to authFailureDelayMaxMs; other addresses are
 * not slowed by it; a success, or ten minutes without a failure, forgets the address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginDelay } from '../../src/broker/login-delay.js';

test('the delay doubles per failure from one address up to the maximum; another address starts at 100 ms', () => {
  let now = 0;
  const d = new LoginDelay(1000, () => now);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => d.failed('10.0.0.1')), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(d.failed('10.0.0.2'), 100);
  now += 1000;
  assert.equal(d.failed('10.0.0.1'), 1000, 'still remembered a second later');
});

test('a success forgets the address; so do ten minutes without a failure', () => {
  let now = 0;
  const d = new LoginDelay(5000, () => now);
  d.failed('a');
  d.failed('a');
  d.succeeded('a');
  assert.equal(d.failed('a'), 100);
  d.failed('b');
  d.failed('b');
  now += 10 * 60_000;
  assert.equal(d.failed('b'), 100);
});
