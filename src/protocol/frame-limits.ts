/**
 * Caps on the msgpack structure of a request, checked by walking its type bytes before
 * msgpackr decodes it.
 *
 * Why: maxFrameBytes bounds a frame's bytes, not what decoding them costs. One byte
 * (0x80) is an empty map, which msgpackr turns into a fresh object: a 57 MiB Metadata
 * frame naming 60 M of them took 40 s of one core and 4.3 GB of heap to decode (past
 * V8's limit), and every other client waited meanwhile. msgpackr has no count or depth
 * limit of its own, so this walk counts before anything is allocated and stops at the
 * first cap passed: a hostile frame costs at most MAX_REQUEST_VALUES steps (~1 ms).
 *
 * What is counted:
 *   values       every msgpack value, map keys included (an array of n ints is n + 1).
 *   depth        nesting of maps and arrays; the request map itself is depth 1.
 *   msgpack      the frame's bytes other than bin payloads: headers, numbers, strings,
 *                keys. Record batches travel as bin and are bounded by maxBatchBytes and
 *                maxFrameBytes instead, so they do not count here.
 * A declared element count is checked against the value cap before its elements are
 * read, so an array32 header claiming 4 G elements is refused on its 5 bytes.
 *
 * Extension types are refused except fixext1 type 0 (msgpackr's `undefined`): no Sluice
 * request carries another, and several of msgpackr's decode nested values from outside
 * their payload (Set, Error, RegExp, bundled strings, records), which this walk could
 * not bound.
 *
 * The walk allocates nothing per frame: its stack of remaining element counts is one
 * module-level Float64Array, reused (decoding is synchronous, so calls never overlap).
 */
import { FrameError, CLOSE_INVALID_PAYLOAD, CLOSE_TOO_BIG } from './frame-error.js';

/**
 * Values in one request. The largest legitimate request is a ShareAck naming its maximum
 * of 100,000 offsets (~100,000 values); 2^18 leaves room, and decoding 2^18 values costs
 * msgpackr at most ~20 ms (empty maps, the dearest kind), against seconds without a cap.
 */
export const MAX_REQUEST_VALUES = 1 << 18;
/** Nesting of one request. The deepest request (ShareAck, CreateTopics) nests 4 levels. */
export const MAX_REQUEST_DEPTH = 32;

export interface FrameLimits {
  /** Bytes of the frame other than bin payloads (the setting maxRequestMsgpackBytes). */
  readonly maxMsgpackBytes: number;
  readonly maxValues: number;
  readonly maxDepth: number;
}

let stack = new Float64Array(MAX_REQUEST_DEPTH + 2);

/**
 * Throws FrameError when `buf` passes a cap (close code 1009), declares more bytes than it
 * holds, or uses an extension type (1007). Returns normally for anything else, including
 * bytes that are not valid msgpack in ways decoding reports itself (0xc1, trailing bytes).
 */
export function checkFrameLimits(buf: Uint8Array, limits: FrameLimits): void {
  const n = buf.length;
  const { maxMsgpackBytes, maxValues, maxDepth } = limits;
  if (stack.length < maxDepth + 2) stack = new Float64Array(maxDepth + 2);
  let pos = 0;
  let values = 0;
  let binBytes = 0;
  let depth = 0; // stack[depth] = values still to read at this level; level 0 holds the frame's one value
  stack[0] = 1;
  for (;;) {
    while (stack[depth] === 0) {
      if (depth === 0) return;
      depth--;
    }
    stack[depth]--;
    if (pos >= n) throw truncated();
    if (++values > maxValues) throw tooMany(maxValues);
    const b = buf[pos++];
    let children = -1; // a map or array: how many values it holds
    let skip = 0; //      payload bytes after the header
    if (b <= 0x7f || b >= 0xe0) {
      // positive or negative fixint
    } else if (b <= 0x8f) children = (b & 0x0f) * 2;
    else if (b <= 0x9f) children = b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      switch (b) {
        case 0xc0: case 0xc1: case 0xc2: case 0xc3: break; // nil, (never used: decoding refuses it), false, true
        case 0xc4: case 0xc5: case 0xc6: { // bin 8/16/32
          const w = b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4;
          skip = readLength(buf, pos, w);
          pos += w;
          binBytes += skip;
          break;
        }
        case 0xd9: case 0xda: case 0xdb: { // str 8/16/32
          const w = b === 0xd9 ? 1 : b === 0xda ? 2 : 4;
          skip = readLength(buf, pos, w);
          pos += w;
          break;
        }
        case 0xdc: case 0xdd: { // array 16/32
          const w = b === 0xdc ? 2 : 4;
          children = readLength(buf, pos, w);
          pos += w;
          break;
        }
        case 0xde: case 0xdf: { // map 16/32
          const w = b === 0xde ? 2 : 4;
          children = readLength(buf, pos, w) * 2;
          pos += w;
          break;
        }
        case 0xca: skip = 4; break; // float 32
        case 0xcb: skip = 8; break; // float 64
        case 0xcc: case 0xd0: skip = 1; break; // (u)int 8
        case 0xcd: case 0xd1: skip = 2; break; // (u)int 16
        case 0xce: case 0xd2: skip = 4; break; // (u)int 32
        case 0xcf: case 0xd3: skip = 8; break; // (u)int 64
        case 0xd4: // fixext 1: only type 0, msgpackr's encoding of `undefined`
          if (pos + 2 > n) throw truncated();
          if (buf[pos] !== 0) throw extension(b);
          skip = 2;
          break;
        default: // fixext 2..16, ext 8/16/32
          throw extension(b);
      }
    }
    if (children >= 0) {
      if (depth + 1 > maxDepth) throw new FrameError(CLOSE_TOO_BIG, `request nests deeper than ${maxDepth} levels`);
      if (children > maxValues - values) throw tooMany(maxValues);
      if (children > 0) stack[++depth] = children;
    }
    pos += skip;
    if (pos > n) throw truncated();
    if (pos - binBytes > maxMsgpackBytes) {
      throw new FrameError(CLOSE_TOO_BIG, `request has more than ${maxMsgpackBytes} bytes besides its binary fields (maxRequestMsgpackBytes)`);
    }
  }
}

function readLength(buf: Uint8Array, pos: number, width: number): number {
  if (pos + width > buf.length) throw truncated();
  if (width === 1) return buf[pos];
  if (width === 2) return (buf[pos] << 8) | buf[pos + 1];
  return buf[pos] * 0x1000000 + ((buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]);
}

function tooMany(max: number): FrameError {
  return new FrameError(CLOSE_TOO_BIG, `request has more than ${max} msgpack values`);
}

function truncated(): FrameError {
  return new FrameError(CLOSE_INVALID_PAYLOAD, 'undecodable frame: msgpack ends inside a value');
}

function extension(header: number): FrameError {
  return new FrameError(CLOSE_INVALID_PAYLOAD, `msgpack extension values (0x${header.toString(16)}) are not accepted in a request`);
}
