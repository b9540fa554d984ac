// checkFrameLimits: the walk over msgpack type bytes that refuses a hostile request before
// msgpackr decodes it, and lets every real request through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, encodeFrame } from '../../src/protocol/codec.js';
import { BIG_BIN_BYTES, decodeFrameFragments, encodeFrameParts } from '../../src/protocol/frame-parts.js';
import { checkFrameLimits, MAX_REQUEST_DEPTH, MAX_REQUEST_VALUES, type FrameLimits } from '../../src/protocol/frame-limits.js';
import { FrameError, CLOSE_INVALID_PAYLOAD, CLOSE_TOO_BIG } from '../../src/protocol/frame-error.js';

const LIMITS: FrameLimits = { maxMsgpackBytes: 1 << 20, maxValues: MAX_REQUEST_VALUES, maxDepth: MAX_REQUEST_DEPTH };

function refused(fn: () => unknown, code: number, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof FrameError && e.closeCode === code && re.test(e.message));
}

/** What the walk should count: every value, map keys included. */
function countValues(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, x) => n + countValues(x), 0);
  if (v !== null && typeof v === 'object') return 1 + Object.values(v).reduce((n: number, x) => n + 1 + countValues(x), 0);
  return 1;
}

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

test('real requests pass: produce with records, fetch, a ShareAck of 100,000 offsets, undefined fields', () => {
  const produce = { id: 1, api: 0, version: 0, acks: 1, partitions: [{ topic: 't', partition: 0, records: Buffer.alloc(4000, 1) }] };
  const fetch = { id: 2, api: 1, version: 0, maxWaitMs: 500, minBytes: 1, maxBytes: 4 << 20, partitions: [{ topic: 't', partition: 0, offset: 2 ** 40, maxBytes: 1 << 20 }] };
  const ack = { id: 3, api: 1101, version: 0, groupId: 'g', workerId: 'w', entries: [{ topic: 't', partition: 0, type: 'ack', offsets: Array.from({ length: 100_000 }, (_, i) => 2 ** 40 + i) }] };
  const meta = { id: 4, api: 3, version: 0, topics: undefined };
  for (const msg of [produce, fetch, ack, meta]) {
    const buf = encodeFrame(msg);
    checkFrameLimits(buf, LIMITS);
    assert.deepEqual(decodeFrame(buf, LIMITS), decodeFrame(buf));
  }
});

test('the count and depth caps are exact for any JSON-shaped request', () => {
  fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (body) => {
    const msg = { id: 1, body };
    const buf = encodeFrame(msg);
    const values = countValues(msg);
    const depth = depthOf(msg);
    checkFrameLimits(buf, { maxMsgpackBytes: buf.length, maxValues: values, maxDepth: depth });
    refused(() => checkFrameLimits(buf, { maxMsgpackBytes: buf.length, maxValues: values - 1, maxDepth: depth }), CLOSE_TOO_BIG, /values/);
    refused(() => checkFrameLimits(buf, { maxMsgpackBytes: buf.length, maxValues: values, maxDepth: depth - 1 }), CLOSE_TOO_BIG, /deeper/);
    refused(() => checkFrameLimits(buf, { maxMsgpackBytes: buf.length - 1, maxValues: values, maxDepth: depth }), CLOSE_TOO_BIG, /maxRequestMsgpackBytes/);
  }));
});

test('60 M empty maps are refused at the array header, without reading them', () => {
  // The probe's frame: a Metadata request whose topics array declares 60 M elements, each
  // 0x80 (an empty map). Only the first 1,000 are present: the header alone is enough.
  const head = encodeFrame({ id: 1, api: 3, version: 0 }); // map16 header (de 00 03), then the fields
  assert.deepEqual([...head.subarray(0, 3)], [0xde, 0, 3]);
  const frame = Buffer.concat([Buffer.from([0xde, 0, 4]), head.subarray(3), Buffer.from([0xa6]), Buffer.from('topics'),
    Buffer.from([0xdd, 0x03, 0x93, 0x87, 0x00]), Buffer.alloc(1000, 0x80)]);
  refused(() => checkFrameLimits(frame, LIMITS), CLOSE_TOO_BIG, /more than 262144 msgpack values/);
});

test('a stream of small containers is refused once the count passes the cap, before the rest is read', () => {
  // 20 arrays of 65,535 zeros = 1.3 M values. The frame ends early (truncated): a walk that
  // went past the cap would report the truncation (1007) instead of the count (1009).
  const parts: Buffer[] = [Buffer.from([0xdc, 0x00, 20])];
  for (let i = 0; i < 20; i++) parts.push(Buffer.from([0xdc, 0xff, 0xff]), Buffer.alloc(i === 19 ? 10 : 65535, 0));
  const frame = Buffer.concat(parts);
  refused(() => checkFrameLimits(frame, LIMITS), CLOSE_TOO_BIG, /values/);
  refused(() => checkFrameLimits(frame, { ...LIMITS, maxValues: 1 << 22, maxMsgpackBytes: 1 << 22 }), CLOSE_INVALID_PAYLOAD, /ends inside/);
});

test('deep nesting is refused at the first level past the cap', () => {
  let v: unknown = 1;
  for (let i = 0; i < MAX_REQUEST_DEPTH - 1; i++) v = [v];
  checkFrameLimits(encodeFrame({ id: 1, v }), LIMITS); // map + 31 arrays = 32 levels
  refused(() => checkFrameLimits(encodeFrame({ id: 1, v: [v] }), LIMITS), CLOSE_TOO_BIG, /deeper than 32/);
  // 100,000 nested fixarrays (100 KB): refused on the 33rd byte's level.
  refused(() => checkFrameLimits(Buffer.alloc(100_000, 0x91), LIMITS), CLOSE_TOO_BIG, /deeper/);
});

test('msgpack bytes count everything but bin payloads', () => {
  const limits = { ...LIMITS, maxMsgpackBytes: 2048 };
  checkFrameLimits(encodeFrame({ id: 1, records: Buffer.alloc(1 << 20) }), limits);
  refused(() => checkFrameLimits(encodeFrame({ id: 1, name: 'x'.repeat(4096) }), limits), CLOSE_TOO_BIG, /more than 2048 bytes/);
  refused(() => checkFrameLimits(encodeFrame({ id: 1, names: Array.from({ length: 300 }, () => 'abcdefgh') }), limits), CLOSE_TOO_BIG, /2048 bytes/);
});

test('a produce sent as fragments counts its big records as placeholders', () => {
  const records = Buffer.alloc(4 * BIG_BIN_BYTES, 7);
  const msg = { id: 9, api: 0, version: 0, acks: 1, partitions: [{ topic: 't', partition: 0, records }, { topic: 't', partition: 1, records }] };
  const frags = encodeFrameParts(msg).map((p) => Buffer.from(p.buffer, p.byteOffset, p.length));
  assert.ok(frags.length > 1);
  const back = decodeFrameFragments(frags, { ...LIMITS, maxMsgpackBytes: 1024 }) as typeof msg;
  assert.deepEqual(back.partitions[1].records, records);
  refused(() => decodeFrameFragments(frags, { ...LIMITS, maxMsgpackBytes: 1024, maxValues: 10 }), CLOSE_TOO_BIG, /values/);
});

test('extension values are refused, except msgpackr undefined; lengths past the end are 1007', () => {
  // msgpackr's Set: fixext1 type 0x73, then the members read from outside the payload.
  refused(() => checkFrameLimits(Buffer.from([0x81, 0xa1, 0x73, 0xd4, 0x73, 0x00, 0x91, 0x01]), LIMITS), CLOSE_INVALID_PAYLOAD, /extension/);
  refused(() => checkFrameLimits(encodeFrame({ id: 1, d: new Date(0) }), LIMITS), CLOSE_INVALID_PAYLOAD, /extension/);
  refused(() => checkFrameLimits(Buffer.from([0x81, 0xa1, 0x78, 0xd4, 0x65, 0x00]), LIMITS), CLOSE_INVALID_PAYLOAD, /extension/);
  checkFrameLimits(encodeFrame({ id: 1, u: undefined }), LIMITS);
  refused(() => checkFrameLimits(Buffer.from([0x81, 0xa1, 0x78, 0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2]), LIMITS), CLOSE_INVALID_PAYLOAD, /ends inside/);
  refused(() => checkFrameLimits(Buffer.from([0x81, 0xa1, 0x78, 0xdb, 0x00]), LIMITS), CLOSE_INVALID_PAYLOAD, /ends inside/);
});
