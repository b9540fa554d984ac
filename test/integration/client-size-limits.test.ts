// The broker announces its size limits when a connection opens, and the client checks
// against them: a produce bigger than the frame limit used to be sent anyway, the broker
// closed the connection (1009), and the producer retried it for ~16 s before failing with
// NETWORK_ERROR "connection ... was lost". A 1009 the client could not foresee (the msgpack
// value cap) is reported as such, not as a lost connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, type SluiceError } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';

const MAX_FRAME = 1024 * 1024;
let broker: BrokerHandle;
let admin: Admin;
before(async () => {
  broker = await startBroker({ args: ['--max-frame-bytes', String(MAX_FRAME)] });
  admin = new Admin({ url: broker.url });
  await admin.createTopic('big', 1);
});
after(async () => {
  await admin.close();
  await broker.stop();
});

/** Rejects with what `p` rejects with, and how long that took. */
async function failure(p: Promise<unknown>): Promise<{ err: SluiceError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err: err as SluiceError, ms: Date.now() - t0 };
  }
  throw new Error('expected a failure');
}

test('the upgrade response announces the broker limits', async () => {
  const conn = new Connection(broker.url);
  await conn.connect();
  assert.deepEqual(conn.limits, { maxFrameBytes: MAX_FRAME, maxBatchBytes: 16 * 1024 * 1024, maxRequestMsgpackBytes: 1024 * 1024 });
  await conn.close();
});

test('a produce bigger than maxFrameBytes fails at once with MESSAGE_TOO_LARGE naming the limit and the size; the connection stays up', async () => {
  const p = new Producer({ url: broker.url, acks: 1 });
  await p.connect();
  const { err, ms } = await failure(p.send('big', { value: Buffer.alloc(2 * MAX_FRAME) }));
  assert.equal(err.code, 'MESSAGE_TOO_LARGE', err.message);
  assert.equal(err.retriable, false);
  assert.match(err.message, new RegExp(`${2 * MAX_FRAME + 73} bytes .*maxFrameBytes ${MAX_FRAME}`));
  // Refused without a round trip; a broker close and retries took ~16 s. The bound leaves
  // room for a stalled machine.
  assert.ok(ms < 8000, `took ${ms} ms`);
  const [meta] = await p.send('big', [{ value: 'fits' }]);
  assert.equal(meta.offset, 0, 'the producer goes on; nothing of the refused message was stored');
  await p.close();
});

test("a message over the producer's own maxBatchBytes fails at once, naming it", async () => {
  const p = new Producer({ url: broker.url, maxBatchBytes: 1000 });
  const { err } = await failure(p.send('big', { value: 'x'.repeat(2000) }));
  assert.equal(err.code, 'MESSAGE_TOO_LARGE');
  assert.match(err.message, /2073 bytes .*the producer's maxBatchBytes 1000/);
  await p.close();
});

test('a 1009 close the client could not foresee fails the request with MESSAGE_TOO_LARGE naming the close and the frame limit', async () => {
  const conn = new Connection(broker.url, { reconnectBackoffMs: 10 });
  await conn.connect();
  // 300,000 one-character names: ~600 KB, within maxFrameBytes and maxRequestMsgpackBytes,
  // but past the broker's cap of 262,144 msgpack values, checked before decoding (1009).
  const { err, ms } = await failure(conn.request(Api.Metadata, { topics: Array.from({ length: 300_000 }, () => 'a') }));
  assert.equal(err.code, 'MESSAGE_TOO_LARGE', err.message);
  assert.match(err.message, /closed the connection with 1009 \(message too big: request has more than 262144 msgpack values\)/);
  assert.match(err.message, new RegExp(`maxFrameBytes ${MAX_FRAME}`));
  assert.ok(ms < 8000, `took ${ms} ms`);
  // The connection comes back for the requests after it.
  const res = await conn.request(Api.Metadata, { topics: ['big'] });
  assert.equal(res.topics[0].name, 'big');
  await conn.close();
});
