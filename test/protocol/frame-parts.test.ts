// encodeFrameParts: the parts concatenate to exactly encodeFrame's bytes, and big Buffers
// are passed by reference (not copied).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.js';
import { BIG_BIN_BYTES, decodeFrameFragments, encodeFrameParts } from '../../src/protocol/frame-parts.js';

const cat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)));

test('a fetch-shaped response: same bytes as encodeFrame, big records by reference', () => {
  const big1 = randomBytes(BIG_BIN_BYTES + 10);
  const big2 = randomBytes(3 * BIG_BIN_BYTES);
  const small = randomBytes(100);
  const msg = {
    id: 7,
    partitions: [
      { topic: 'a', partition: 0, highWatermark: 10, logStartOffset: 0, records: big1 },
      { topic: 'a', partition: 1, highWatermark: 3, logStartOffset: 0, records: small },
      { topic: 'b', partition: 0, highWatermark: 2 ** 40, logStartOffset: 5, records: big2, after: 'x' },
    ],
  };
  const parts = encodeFrameParts(msg);
  assert.deepEqual(cat(parts), Buffer.from(encodeFrame(msg)));
  assert.ok(parts.includes(big1) && parts.includes(big2), 'big buffers are parts themselves');
  const back = decodeFrame(cat(parts)) as typeof msg;
  assert.deepEqual(Buffer.from(back.partitions[2].records), big2);
  assert.equal(msg.partitions[0].records, big1, 'the input is not modified');
});

test('no big field: one part, the plain frame', () => {
  const msg = { id: 1, partitions: [{ records: randomBytes(10) }] };
  const parts = encodeFrameParts(msg);
  assert.equal(parts.length, 1);
  assert.deepEqual(Buffer.from(parts[0]), Buffer.from(encodeFrame(msg)));
});

test('a small value that looks like a placeholder header is left alone', () => {
  const msg = { a: Buffer.from([0xc4, 0x10, 1, 2, 3]), b: randomBytes(BIG_BIN_BYTES) };
  assert.deepEqual(cat(encodeFrameParts(msg)), Buffer.from(encodeFrame(msg)));
});

test('decodeFrameFragments: encodeFrameParts output decodes to the message, big fields not copied', () => {

  const big1 = randomBytes(BIG_BIN_BYTES + 1);
  const big2 = randomBytes(2 * BIG_BIN_BYTES);
  const msg = { id: 3, partitions: [{ topic: 't', records: big1, hw: 5 }, { topic: 'u', records: randomBytes(7) }, { records: big2 }] };
  const frags = encodeFrameParts(msg).filter((p) => p.length > 0).map((p) => Buffer.from(p.buffer, p.byteOffset, p.length));
  const back = decodeFrameFragments(frags) as { partitions: { records: Buffer }[] };
  assert.deepEqual(back, decodeFrame(encodeFrame(msg)));
  assert.equal(back.partitions[0].records.buffer, big1.buffer, 'a view of the received fragment, not a copy');
  // arbitrary fragmentation (another sender) decodes as the concatenation
  const whole = Buffer.from(encodeFrame(msg));
  const cuts = [whole.subarray(0, 10), whole.subarray(10, 70000), whole.subarray(70000)];
  assert.deepEqual(decodeFrameFragments(cuts), decodeFrame(whole));
  // a fragment list that looks right but is not msgpack still fails with a FrameError
  assert.throws(() => decodeFrameFragments([Buffer.from([0xc1, 0xc6, 0, 1, 0, 0]), Buffer.alloc(65536)]), { name: 'FrameError' });
});
