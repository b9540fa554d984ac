import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDeliverAt } from '../../src/client/deliver-at.js';
import { DELIVER_AT_HEADER, MAX_DELIVERY_DELAY_MS } from '../../src/record/index.js';

test('delayMs and deliverAt become the sluice.deliver.at header on a copy of the message', () => {
  const m = { value: 'x', headers: [{ key: 'a', value: 'b' }], delayMs: 1500 };
  const out = withDeliverAt(m, 0, 10_000);
  assert.deepEqual(out, { value: 'x', headers: [{ key: 'a', value: 'b' }, { key: DELIVER_AT_HEADER, value: '11500' }] });
  assert.equal(m.headers.length, 1, "the caller's message is not changed");
  assert.deepEqual(withDeliverAt({ value: 'y', deliverAt: new Date(20_000) }, 0, 10_000).headers, [{ key: DELIVER_AT_HEADER, value: '20000' }]);
});

test('a delivery time that cannot be honoured is refused naming the message and the field', () => {
  assert.throws(() => withDeliverAt({ value: 'x', delayMs: 1, deliverAt: 5 }, 3, 0), /message 3: set delayMs or deliverAt, not both/);
  assert.throws(() => withDeliverAt({ value: 'x', delayMs: -1 }, 0, 0), /delayMs must be a non-negative/);
  assert.throws(() => withDeliverAt({ value: 'x', deliverAt: new Date(NaN) }, 0, 0), /deliverAt must be a Date or epoch ms/);
  assert.throws(() => withDeliverAt({ value: 'x', delayMs: MAX_DELIVERY_DELAY_MS + 1 }, 0, 0), /more than 30 days ahead/);
});
