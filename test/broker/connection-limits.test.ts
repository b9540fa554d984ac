// The connection limits (connection-limits.ts) on a fake clock: per address, in all, and the
// creation rate's bucket; places given back are taken again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimits } from '../../src/broker/connection-limits.js';

const settings = (o: Partial<{ maxConnections: number; maxConnectionsPerIp: number; maxConnectionCreationRatePerIp: number }>) =>
  ({ maxConnections: 0, maxConnectionsPerIp: 0, maxConnectionCreationRatePerIp: 0, ...o });

test('maxConnectionsPerIp counts per address; a closed connection gives its place back', () => {
  const l = new ConnectionLimits(settings({ maxConnectionsPerIp: 2 }));
  assert.equal(l.admit('1.1.1.1'), undefined);
  assert.equal(l.admit('1.1.1.1'), undefined);
  assert.equal(l.admit('1.1.1.1')?.reason, 'max_connections_per_ip');
  assert.equal(l.admit('2.2.2.2'), undefined);
  l.closed('1.1.1.1');
  assert.equal(l.admit('1.1.1.1'), undefined);
  assert.equal(l.open, 3);
});

test('maxConnections counts all addresses; 0 is no limit', () => {
  const l = new ConnectionLimits(settings({ maxConnections: 2 }));
  l.admit('a');
  l.admit('b');
  assert.deepEqual(l.admit('c'), { reason: 'max_connections', message: 'too many connections: this broker accepts 2 (maxConnections)' });
  const none = new ConnectionLimits(settings({}));
  for (let i = 0; i < 1000; i++) assert.equal(none.admit('a'), undefined);
});

test('the creation rate: a burst of `rate`, then `rate` per second; refusals take no token', () => {
  let now = 0;
  const l = new ConnectionLimits(settings({ maxConnectionCreationRatePerIp: 2 }), () => now);
  assert.equal(l.admit('a'), undefined);
  assert.equal(l.admit('a'), undefined);
  assert.equal(l.admit('a')?.reason, 'creation_rate');
  assert.equal(l.admit('b'), undefined, 'another address has its own bucket');
  now += 499;
  assert.equal(l.admit('a')?.reason, 'creation_rate');
  now += 1;
  assert.equal(l.admit('a'), undefined);
  assert.equal(l.admit('a')?.reason, 'creation_rate');
});
