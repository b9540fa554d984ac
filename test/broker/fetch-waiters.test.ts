import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FetchWaiters, type Waiter } from '../../src/broker/fetch-waiters.js';
import { createLogger } from '../../src/broker/logger.js';

function spy(): Waiter & { woke: number; finished: number } {
  const w = { woke: 0, finished: 0, wake() { w.woke++; }, finish() { w.finished++; } };
  return w;
}

test('notify wakes only waiters on that partition; remove unregisters', () => {
  const ws = new FetchWaiters();
  const a = spy();
  const b = spy();
  ws.add(a, [FetchWaiters.key('t', 0), FetchWaiters.key('u', 1)]);
  ws.add(b, [FetchWaiters.key('t', 1)]);
  ws.notify('t', 0);
  ws.notify('u', 1);
  ws.notify('t', 2);
  assert.deepEqual([a.woke, b.woke], [2, 0]);
  ws.remove(a, [FetchWaiters.key('t', 0), FetchWaiters.key('u', 1)]);
  ws.notify('t', 0);
  assert.equal(a.woke, 2);
  assert.equal(ws.size, 1);
});

test('finishTopic finishes exactly that topic (not a topic whose name ends the same)', () => {
  const ws = new FetchWaiters();
  const a = spy();
  const b = spy();
  ws.add(a, [FetchWaiters.key('orders', 3)]);
  ws.add(b, [FetchWaiters.key('old-orders', 3)]);
  ws.finishTopic('orders');
  assert.deepEqual([a.finished, b.finished], [1, 0]);
  ws.finishAll();
  assert.deepEqual([a.finished, b.finished], [2, 1]);
});

test('logger writes one JSON line per event at or above its level', () => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => lines.push(l));
  log.debug('hidden');
  log.info('listening', { port: 5 });
  log.error('boom', { error: new Error('bad') });
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]);
  assert.equal(first.event, 'listening');
  assert.equal(first.port, 5);
  assert.equal(JSON.parse(lines[1]).error.message, 'bad');
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
});
