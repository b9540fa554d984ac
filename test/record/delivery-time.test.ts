import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DELIVER_AT_HEADER, MAX_DELIVERY_DELAY_MS, encodeBatch, findDeliveryTimes, parseDeliverAt } from '../../src/record/index.js';

const at = (ms: number) => [{ key: DELIVER_AT_HEADER, value: String(ms) }];

test('findDeliveryTimes: the records of the range whose time is still ahead, at their time', () => {
  const now = 1_000_000;
  const a = encodeBatch([{ value: 'a' }, { value: 'b', headers: at(now + 5000) }, { value: 'c', headers: at(now - 1) }], { baseOffset: 10 });
  const b = encodeBatch([{ value: 'd', headers: [{ key: 'x', value: 'y' }, ...at(now + 7000)] }, { value: 'e', headers: at(now + 1) }], { baseOffset: 13 });
  const bytes = Buffer.concat([a, b]);
  assert.deepEqual(findDeliveryTimes(bytes, 10, 14, now), [[11, now + 5000], [13, now + 7000], [14, now + 1]]);
  assert.deepEqual(findDeliveryTimes(bytes, 12, 13, now), [[13, now + 7000]], 'only offsets inside the range');
  assert.deepEqual(findDeliveryTimes(encodeBatch([{ value: 'plain' }]), 0, 0, now), []);
});

test('findDeliveryTimes: a time past the bound waits only the bound; a value that is no time is delivered now', () => {
  const now = 5_000;
  const bytes = encodeBatch([
    { value: 'far', headers: at(now + MAX_DELIVERY_DELAY_MS * 10) },
    { value: 'junk', headers: [{ key: DELIVER_AT_HEADER, value: 'tomorrow' }] },
    { value: 'empty', headers: [{ key: DELIVER_AT_HEADER, value: null }] },
  ]);
  assert.deepEqual(findDeliveryTimes(bytes, 0, 2, now), [[0, now + MAX_DELIVERY_DELAY_MS]]);
  assert.equal(parseDeliverAt(Buffer.from('-5')), undefined);
  assert.equal(parseDeliverAt(Buffer.from('1700000000000')), 1_700_000_000_000);
});
