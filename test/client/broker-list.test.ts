// The bootstrap options: brokers is the list, url its one-broker shorthand, never both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapUrls, DEFAULT_BROKER, normalizeUrl } from '../../src/client/broker-list.js';
import { Producer } from '../../src/client/producer.js';

test('brokers is the bootstrap list; url is brokers: [url]; the default is the local broker', () => {
  assert.deepEqual(bootstrapUrls({ brokers: ['ws://a:1', 'ws://b:2'] }), ['ws://a:1', 'ws://b:2']);
  assert.deepEqual(bootstrapUrls({ url: 'ws://a:1' }), ['ws://a:1']);
  assert.deepEqual(bootstrapUrls({}), [DEFAULT_BROKER]);
});

test('url and brokers together, or an empty list, are refused naming the options', () => {
  assert.throws(() => new Producer({ url: 'ws://a:1', brokers: ['ws://b:2'] }), (e: any) => e.code === 'INVALID_ARGUMENT' && /url or brokers/.test(e.message));
  assert.throws(() => bootstrapUrls({ brokers: [] }), (e: any) => e.code === 'INVALID_ARGUMENT' && /brokers/.test(e.message));
});

test('a URL typed without the trailing slash names the same broker as the one advertised with it', () => {
  assert.equal(normalizeUrl('ws://127.0.0.1:9400'), normalizeUrl('ws://127.0.0.1:9400/'));
});
