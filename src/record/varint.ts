/**
 * Kafka's zig-zag varints (protobuf style): signed values map to unsigned ones so that
 * small magnitudes of either sign take one byte, then 7 bits per byte, low bits first.
 * Values are JS numbers; 64-bit fields (timestamp deltas) are exact up to 2^53.
 */

export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** Bytes needed for the zig-zag varint of `n`. */
export function varintSize(n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  let size = 1;
  while (z >= 0x80) {
    z = Math.floor(z / 128);
    size++;
  }
  return size;
}

/** Writes the zig-zag varint of `n` at `pos` and returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  if (z < 0x8000_0000) {
    // Fast path: bitwise ops are exact below 2^31, which covers every length and delta in practice.
    while (z >= 0x80) {
      buf[pos++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    buf[pos++] = z;
    return pos;
  }
  while (z >= 0x80) {
    buf[pos++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[pos++] = z;
  return pos;
}

/**
 * Reads a zig-zag varint at `state.pos`, advancing it. Throws RangeError on a varint that
 * runs past `end` or is longer than 10 bytes, so a hostile batch cannot loop or misread.
 */
export function readVarint(buf: Uint8Array, state: { pos: number }, end: number): number {
  let pos = state.pos;
  let z = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new RangeError('varint runs past the end of the batch');
    const b = buf[pos++];
    z += (b & 0x7f) * mul;
    if (b < 0x80) {
      state.pos = pos;
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    mul *= 128;
  }
  throw new RangeError('varint longer than 10 bytes');
}
