/**
 * A frame whose big binary fields are sent without being copied into the frame.
 *
 * encodeFrame() (codec.ts) packs everything into msgpackr's buffer: a Fetch response
 * carrying 1 MiB of records costs a 1 MiB copy plus, every few frames, a fresh 4 MiB
 * buffer. On replay that was the broker's biggest cost: the copies, and the major GCs
 * that V8 runs as external (Buffer) memory grows (688 ms of 2.2 s broker CPU for 1.2 GB
 * replayed; see docs/performance.md).
 *
 * encodeFrameParts() returns the same msgpack bytes as encodeFrame(), cut into parts so
 * that each Buffer of at least BIG_BIN_BYTES is a part of its own, by reference:
 *
 *   [msgpack up to a big field + its bin32 header] [the Buffer itself] ... [the rest]
 *
 * The sender writes the parts as fragments of one WebSocket message (RFC 6455 5.4), which
 * any WebSocket receiver reassembles into one message: the receiving side decodes one
 * ordinary msgpack frame and cannot tell the difference.
 *
 * How: big Buffers are swapped for 16-byte placeholders (bin8: c4 10, a random per-process
 * tag, then the big Buffer's index as u32) before packing, and the placeholders found in
 * the (now small) packed bytes are replaced by a bin32 header (c6 + u32 length) plus the
 * Buffer. A real value containing the 12-byte random tag right after c4 10 is a 2^-96 event.
 */
import { randomBytes } from 'node:crypto';
import { decodeFrame, encodeFrame } from './codec.js';
import type { FrameLimits } from './frame-limits.js';

export const BIG_BIN_BYTES = 64 * 1024;
const TAG = randomBytes(12);
const MARK_LEN = 16;

/** Copy of `msg` with big Buffers replaced by placeholders (pushed to `bigs`), or `msg` itself when it has none. */
function swapBig(v: unknown, bigs: Uint8Array[]): unknown {
  // Numbers and strings first: a ShareAck's offset arrays are most of what is walked.
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) {
    if (v.length < BIG_BIN_BYTES) return v;
    const mark = Buffer.allocUnsafe(MARK_LEN);
    TAG.copy(mark, 0);
    mark.writeUInt32BE(bigs.length, 12);
    bigs.push(v);
    return mark;
  }
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < v.length; i++) {
      const x = swapBig(v[i], bigs);
      if (x !== v[i] && !out) out = v.slice();
      if (out) out[i] = x;
    }
    return out ?? v;
  }
  if (Object.getPrototypeOf(v) === Object.prototype) {
    let out: Record<string, unknown> | null = null;
    for (const k in v as Record<string, unknown>) {
      const old = (v as Record<string, unknown>)[k];
      const x = swapBig(old, bigs);
      if (x !== old && !out) out = { ...(v as Record<string, unknown>) };
      if (out) out[k] = x;
    }
    return out ?? v;
  }
  return v;
}

/** The frame for `msg` as parts whose concatenation equals encodeFrame(msg). */
export function encodeFrameParts(msg: object): Uint8Array[] {
  const bigs: Uint8Array[] = [];
  const swapped = swapBig(msg, bigs) as object;
  const packed = encodeFrame(swapped);
  if (bigs.length === 0) return [packed];
  const parts: Uint8Array[] = [];
  let from = 0;
  let found = 0;
  for (let at = packed.indexOf(TAG, 0); at >= 0; at = packed.indexOf(TAG, at + 1)) {
    if (at < 2 || packed[at - 2] !== 0xc4 || packed[at - 1] !== MARK_LEN || at + MARK_LEN > packed.length) continue;
    const idx = packed.readUInt32BE(at + 12);
    const big = bigs[idx];
    if (big === undefined) continue;
    const head = Buffer.allocUnsafe(at - 2 - from + 5);
    packed.copy(head, 0, from, at - 2);
    head[head.length - 5] = 0xc6; // bin32
    head.writeUInt32BE(big.length, head.length - 4);
    parts.push(head, big);
    from = at + MARK_LEN;
    found++;
  }
  if (found !== bigs.length) return [encodeFrame(msg)]; // cannot happen; stay correct if it does
  parts.push(packed.subarray(from));
  return parts;
}

const RX_TAG = randomBytes(12);
const EMPTY = Buffer.alloc(0);

/**
 * Decodes one message received as its list of fragments (ws `binaryType: 'fragments'`).
 * When the fragments have encodeFrameParts' shape, [head, big, head, big, ..., tail] with
 * each head ending in a bin32 header for the next fragment, the big fragments are used in
 * place: only the small heads are copied, with placeholders that are swapped back after
 * decoding. Anything else (one fragment, another sender's fragmentation) is decoded as the
 * concatenation, as ws would have delivered it. Throws FrameError like decodeFrame, and
 * checks `limits` like it on the bytes msgpackr decodes (a big fragment counts as its
 * placeholder, a bin, so as no msgpack bytes).
 */
export function decodeFrameFragments(frags: Buffer[], limits?: FrameLimits): Record<string, unknown> {
  if (frags.length === 1) return decodeFrame(frags[0], limits);
  const pairs = frags.length >> 1;
  let small = 0;
  for (let i = 0; i < pairs; i++) {
    const head = frags[2 * i];
    const big = frags[2 * i + 1];
    if (head.length < 5 || head[head.length - 5] !== 0xc6 || head.readUInt32BE(head.length - 4) !== big.length || big.length < BIG_BIN_BYTES) {
      return decodeFrame(Buffer.concat(frags), limits);
    }
    small += head.length - 5 + 2 + MARK_LEN;
  }
  const tail = frags.length % 2 === 1 ? frags[frags.length - 1] : EMPTY;
  const buf = Buffer.allocUnsafe(small + tail.length);
  let pos = 0;
  for (let i = 0; i < pairs; i++) {
    const head = frags[2 * i];
    pos += head.copy(buf, pos, 0, head.length - 5);
    buf[pos++] = 0xc4; // bin8 of MARK_LEN bytes: tag + index
    buf[pos++] = MARK_LEN;
    pos += RX_TAG.copy(buf, pos);
    pos = buf.writeUInt32BE(i, pos);
  }
  tail.copy(buf, pos);
  let msg: Record<string, unknown>;
  try {
    msg = decodeFrame(buf, limits);
  } catch {
    return decodeFrame(Buffer.concat(frags), limits); // the c6 was not a bin32 header after all
  }
  const bigs = frags.filter((_f, i) => i % 2 === 1 && i < 2 * pairs);
  if (restore(msg, bigs) !== pairs) return decodeFrame(Buffer.concat(frags), limits);
  return msg;
}

/** Swaps placeholders in the decoded value back for the big fragments; returns how many. */
function restore(v: unknown, bigs: Buffer[]): number {
  let n = 0;
  const swap = (x: unknown): unknown => {
    if (x instanceof Uint8Array && x.length === MARK_LEN && RX_TAG.equals(x.subarray(0, 12))) {
      const big = bigs[Buffer.from(x.buffer, x.byteOffset, MARK_LEN).readUInt32BE(12)];
      if (big) { n++; return big; }
      return x;
    }
    if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) {
      if (Array.isArray(x)) for (let i = 0; i < x.length; i++) x[i] = swap(x[i]);
      else for (const k in x as Record<string, unknown>) (x as Record<string, unknown>)[k] = swap((x as Record<string, unknown>)[k]);
    }
    return x;
  };
  swap(v);
  return n;
}
