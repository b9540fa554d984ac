// A small frame must not freeze the broker: requests whose msgpack structure passes a cap
// (values, depth, msgpack bytes besides records) are refused before decoding, with 1009,
// and other clients are served meanwhile. Before the caps, a Metadata frame naming 60 M
// empty maps took 40 s and 4.3 GB of heap to decode; three of them kept another client's
// Metadata waiting 85 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { encodeFrame } from '../../src/protocol/codec.js';
import { batchOf, createTopic, produce, readAll } from './broker-helpers.js';

let broker: BrokerHandle;
let good: RawClient;
before(async () => {
  broker = await startBroker(); // default limits: the frames below fit maxFrameBytes
  good = await RawClient.connect(broker.url);
  await createTopic(good, 'kept');
  await produce(good, 'kept', 0, batchOf(['a', 'b']));
});
after(async () => {
  good?.close();
  await broker?.stop();
});

/** A Metadata request whose `topics` is an array of `n` empty maps (one byte each). */
function emptyMapsFrame(n: number): Buffer {
  const head = encodeFrame({ id: 1, api: Api.Metadata, version: 0 }); // map16 of 3 entries
  const arr = Buffer.alloc(5);
  arr[0] = 0xdd; // array32
  arr.writeUInt32BE(n, 1);
  return Buffer.concat([Buffer.from([0xde, 0, 4]), head.subarray(3), Buffer.from([0xa6]), Buffer.from('topics'), arr, Buffer.alloc(n, 0x80)]);
}

/** `{ id, api: Metadata, version, topics: [[[...]]] }` nested `depth` arrays deep. */
function deepFrame(depth: number): Buffer {
  const head = encodeFrame({ id: 2, api: Api.Metadata, version: 0 });
  return Buffer.concat([Buffer.from([0xde, 0, 4]), head.subarray(3), Buffer.from([0xa6]), Buffer.from('topics'), Buffer.alloc(depth, 0x91), Buffer.from([0x90])]);
}

test('hostile Metadata frames are refused with 1009 while another client is answered promptly', async () => {
  // 16 M empty maps: 16 MiB, under the default maxFrameBytes (17 MiB). Decoding one took
  // ~10 s and ~1 GB of heap; three at once would take the broker ~30 s, or its heap.
  const hostile = emptyMapsFrame(16 * 1024 * 1024);
  const bad = await Promise.all([0, 1, 2].map(() => RawClient.connect(broker.url)));
  const deep = await RawClient.connect(broker.url);
  for (const c of bad) c.sendRaw(hostile);
  deep.sendRaw(deepFrame(1_000_000));
  const started = Date.now();
  const meta = await good.request({ api: Api.Metadata }, 60_000);
  const waited = Date.now() - started;
  assert.ok(meta.topics.some((t: { name: string }) => t.name === 'kept'));
  for (const c of [...bad, deep]) {
    const closed = await c.closed;
    assert.equal(closed.code, 1009, `close code (reason: ${closed.reason})`);
  }
  assert.match((await bad[0].closed).reason, /more than 262144 msgpack values/);
  assert.match((await deep.closed).reason, /deeper than 32/);
  // Without the caps this waited for the decodes (tens of seconds); with them, for the
  // network. The bound leaves room for a stalled CI machine.
  assert.ok(waited < 8000, `Metadata answered after ${waited} ms`);
  assert.deepEqual(await readAll(good, 'kept', 0), [[0, 'a'], [1, 'b']]);
});
