import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { encodeFrame } from '../../src/protocol/codec.js';
import { batchOf, createTopic, produce, readAll } from './broker-helpers.js';

let broker: BrokerHandle;
let good: RawClient;
before(async () => {
  broker = await startBroker({ args: ['--max-frame-bytes', '65536', '--max-batch-bytes', '2048'] });
  good = await RawClient.connect(broker.url);
  await createTopic(good, 'safe');
  await produce(good, 'safe', 0, batchOf(['one', 'two']));
});
after(async () => {
  good?.close();
  await broker?.stop();
});

/** After each hostile act the other connection still works and stored data is intact. */
async function stillHealthy(): Promise<void> {
  await produce(good, 'safe', 0, batchOf(['more']));
  const recs = await readAll(good, 'safe', 0);
  assert.deepEqual(recs.slice(0, 2), [[0, 'one'], [1, 'two']]);
  assert.equal(recs[recs.length - 1][1], 'more');
}

async function closedWith(send: (c: RawClient) => void, code: number): Promise<string> {
  const bad = await RawClient.connect(broker.url);
  send(bad);
  const closed = await bad.closed;
  assert.equal(closed.code, code, `close code (reason: ${closed.reason})`);
  await stillHealthy();
  return closed.reason;
}

test('undecodable frame closes that connection with 1007 and a reason', async () => {
  const reason = await closedWith((c) => c.sendRaw(Buffer.from([0xc1, 0xff, 0x00])), 1007);
  assert.match(reason, /frame/);
  await closedWith((c) => c.sendRaw(encodeFrame([1, 2, 3])), 1007);
});

test('a map without a readable id closes with 1008; a text frame with 1003', async () => {
  await closedWith((c) => c.sendRaw(encodeFrame({ api: Api.Metadata, version: 0 })), 1008);
  await closedWith((c) => c.sendRaw('{"id":1}', false), 1003);
});

test('oversize frame closes with 1009', async () => {
  await closedWith((c) => c.sendRaw(Buffer.alloc(70_000)), 1009);
});

test('unknown api, unsupported version and wrong types get error responses echoing the id', async () => {
  const c = await RawClient.connect(broker.url);
  const unknown = await c.request({ id: 41, api: 4242 });
  assert.equal(unknown.id, 41);
  assert.equal(unknown.error.code, ERRORS.UNKNOWN_API.code);
  assert.equal((await c.request({ api: Api.Metadata, version: 9 })).error.code, ERRORS.UNSUPPORTED_VERSION.code);
  const wrong = await c.request({ api: Api.Fetch, maxWaitMs: 0, minBytes: 1, maxBytes: -1, partitions: [] });
  assert.equal(wrong.error.code, ERRORS.INVALID_REQUEST.code);
  assert.match(wrong.error.message, /maxBytes/);
  const types = await c.request({ api: Api.Produce, acks: 1, partitions: [{ topic: 'safe', partition: '0', records: batchOf(['x']) }] });
  assert.equal(types.error.code, ERRORS.INVALID_REQUEST.code);
  assert.equal((await c.request({ api: Api.Produce, acks: 5, partitions: [] })).error.code, ERRORS.INVALID_REQUIRED_ACKS.code);
  // The same connection keeps working after refused requests.
  assert.ok((await c.request({ api: Api.Metadata })).topics.length >= 1);
  c.close();
  await stillHealthy();
});

test('hostile topic names are INVALID_TOPIC and touch nothing on disk', async () => {
  const before = readdirSync(broker.dataDir).sort();
  const parent = readdirSync(dirname(broker.dataDir)).sort();
  for (const name of ['../etc', '..', 'a/b', '/abs', 'x\0y']) {
    assert.equal((await createTopic(good, name)).error.code, ERRORS.INVALID_TOPIC.code, name);
    const p = await produce(good, name, 0, batchOf(['x']));
    assert.equal(p.partitions[0].error.code, ERRORS.INVALID_TOPIC.code);
    const d = await good.request({ api: Api.DeleteTopics, topics: [name] });
    assert.equal(d.topics[0].error.code, ERRORS.INVALID_TOPIC.code);
  }
  assert.deepEqual(readdirSync(broker.dataDir).sort(), before);
  // Other test files run meanwhile and make their own temp dirs (sluice-storage-*, sluice-it-*, ...) there.
  assert.deepEqual(readdirSync(dirname(broker.dataDir)).filter((f) => !parent.includes(f) && !/^sluice-[a-z]+-\w{6}$/.test(f)), []);
  await stillHealthy();
});

test('a record set over maxBatchBytes is MESSAGE_TOO_LARGE and stores nothing', async () => {
  const big = batchOf(['x'.repeat(3000)]);
  const res = await produce(good, 'safe', 0, big);
  assert.equal(res.partitions[0].error.code, ERRORS.MESSAGE_TOO_LARGE.code);
  await stillHealthy();
  assert.ok(!(await readAll(good, 'safe', 0)).some(([, v]) => v.startsWith('xxx')));
});
