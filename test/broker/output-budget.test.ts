// Output budgets: fetch reservations wait for room in their connection and in the broker,
// are clamped to it, and a spent connection is told to stop reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerBudget, ConnectionBudget } from '../../src/broker/output-budget.js';

const MiB = 1024 * 1024;

/** A connection budget that records its spent/unspent calls. */
function conn(limit: number, broker: BrokerBudget) {
  const spent: boolean[] = [];
  const c = new ConnectionBudget(limit, broker, (s) => spent.push(s));
  return { c, spent };
}

/** Whether `p` has settled after pending microtasks ran. */
async function settled<T>(p: Promise<T>): Promise<{ value: T } | undefined> {
  let out: { value: T } | undefined;
  void p.then((value) => { out = { value }; });
  await new Promise((r) => setImmediate(r));
  return out;
}

test('a reservation is clamped to the connection room; the next one waits until bytes are sent and drained', async () => {
  const broker = new BrokerBudget(1024 * MiB);
  const { c, spent } = conn(8 * MiB, broker);
  assert.equal(await c.reserve(16 * MiB), 8 * MiB);
  assert.deepEqual(spent, [true], 'spent: reading pauses');
  const second = c.reserve(16 * MiB);
  assert.equal(await settled(second), undefined, 'waits while the connection is spent');
  c.adjust(1 * MiB - 8 * MiB); // the read returned 1 MiB
  assert.equal((await settled(second))?.value, 7 * MiB, 'granted what the first left');
  c.adjust(2 * MiB - 7 * MiB);
  assert.equal(c.held, 3 * MiB);
  // Both responses are queued on a socket that does not drain: 3 MiB buffered.
  c.sent(1 * MiB, 1 * MiB);
  c.sent(2 * MiB, 3 * MiB);
  assert.equal(c.held, 3 * MiB);
  assert.equal(broker.used, 3 * MiB);
  const third = c.reserve(16 * MiB);
  assert.equal((await settled(third))?.value, 5 * MiB);
  c.adjust(5 * MiB - 5 * MiB);
  c.sent(5 * MiB, 8 * MiB); // nobody reads: 8 MiB buffered
  const fourth = c.reserve(1);
  assert.equal(await settled(fourth), undefined);
  assert.deepEqual(spent, [true, false, true, false, true]);
  c.sent(0, 0); // drained
  assert.equal((await settled(fourth))?.value, 1);
  assert.equal(spent[spent.length - 1], false);
});

test('the first batch may pass the grant; no other read is granted until room frees', async () => {
  const broker = new BrokerBudget(1024 * MiB);
  const { c } = conn(8 * MiB, broker);
  c.sent(0, 7 * MiB);
  assert.equal(await c.reserve(16 * MiB), 1 * MiB);
  const next = c.reserve(16 * MiB);
  c.adjust(16 * MiB - 1 * MiB); // one 16 MiB batch was read whole
  assert.equal(c.held, 23 * MiB);
  assert.equal(await settled(next), undefined);
  c.sent(16 * MiB, 0);
  assert.equal((await settled(next))?.value, 8 * MiB);
});

test('the broker budget bounds the sum over connections; waiting connections are granted in order', async () => {
  const broker = new BrokerBudget(10 * MiB);
  const a = conn(8 * MiB, broker).c;
  const b = conn(8 * MiB, broker).c;
  const d = conn(8 * MiB, broker).c;
  assert.equal(await a.reserve(8 * MiB), 8 * MiB);
  assert.equal(await b.reserve(8 * MiB), 2 * MiB, 'clamped to what the broker has left');
  const waitD = d.reserve(8 * MiB);
  const waitB = b.reserve(8 * MiB);
  assert.equal(await settled(waitD), undefined);
  assert.equal(broker.used, 10 * MiB);
  a.sent(8 * MiB, 0); // a's answer went out and was read
  assert.equal((await settled(waitD))?.value, 8 * MiB, 'd waited first');
  assert.equal(await settled(waitB), undefined);
  d.adjust(-8 * MiB); // d read nothing
  assert.equal((await settled(waitB))?.value, 6 * MiB);
  assert.equal(broker.used, 8 * MiB);
});

test('a closed connection gives all it holds back to the broker; its waits end with 0', async () => {
  let reserved = 0;
  const broker = new BrokerBudget(4 * MiB, (d) => { reserved += d; });
  const a = conn(8 * MiB, broker).c;
  const b = conn(8 * MiB, broker).c;
  assert.equal(await a.reserve(3 * MiB), 3 * MiB);
  a.sent(0, 1 * MiB);
  const waitA = a.reserve(1 * MiB);
  const waitB = b.reserve(1 * MiB);
  assert.equal(await settled(waitB), undefined);
  a.close();
  assert.equal((await settled(waitA))?.value, 0);
  assert.equal((await settled(waitB))?.value, 1 * MiB);
  assert.equal(await a.reserve(1), 0, 'a closed connection reserves nothing');
  a.adjust(-3 * MiB); // its read finished after the close: not given back twice
  assert.equal(broker.used, 1 * MiB);
  assert.equal(reserved, 1 * MiB, 'the reserved gauge follows');
});
