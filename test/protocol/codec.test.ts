import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, decodeFrame } from '../../src/protocol/codec.js';
import { FrameError, CLOSE_INVALID_PAYLOAD } from '../../src/protocol/frame-error.js';

test('binary fields travel as msgpack bin and decode as Buffer', () => {
  const records = Buffer.from([1, 2, 3, 250]);
  const frame = encodeFrame({ id: 7, api: 0, version: 0, partitions: [{ topic: 't', partition: 0, records }] });
  assert.ok(frame.includes(Buffer.from([0xc4, 4, 1, 2, 3, 250])), 'bin8 header + bytes present');
  const back = decodeFrame(frame) as { partitions: { records: Buffer }[] };
  assert.ok(Buffer.isBuffer(back.partitions[0].records));
  assert.deepEqual([...back.partitions[0].records], [1, 2, 3, 250]);
  const u8 = decodeFrame(encodeFrame({ b: new Uint8Array([9, 8]) })) as { b: Buffer };
  assert.ok(Buffer.isBuffer(u8.b));
});

test('large integers (offsets, timestamps) round-trip as numbers', () => {
  fc.assert(fc.property(fc.maxSafeNat(), fc.integer(), (n, i) => {
    const back = decodeFrame(encodeFrame({ n, i })) as { n: number; i: number };
    return back.n === n && back.i === i;
  }));
});

test('an earlier encoded frame is not overwritten by later ones', () => {
  const a = encodeFrame({ id: 1, s: 'first' });
  const copy = Buffer.from(a);
  for (let i = 0; i < 10_000; i++) encodeFrame({ id: i, s: 'x'.repeat(i % 300) });
  assert.deepEqual(a, copy);
});

test('garbage, truncated frames, trailing bytes and non-maps are FrameErrors with close code 1007', () => {
  const good = encodeFrame({ id: 1, api: 3, version: 0 });
  const bad = [Buffer.from([0xc1]), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([1])]),
    Buffer.alloc(0), encodeFrame([1, 2]), encodeFrame('str' as unknown as object), encodeFrame(null as unknown as object), encodeFrame(Buffer.from([1]))];
  for (const b of bad) {
    assert.throws(() => decodeFrame(b), (e: unknown) => e instanceof FrameError && e.closeCode === CLOSE_INVALID_PAYLOAD, b.toString('hex'));
  }
});

test('fuzz: decodeFrame never throws anything but FrameError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    try {
      decodeFrame(bytes);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
    }
  }), { numRuns: 2000 });
});
