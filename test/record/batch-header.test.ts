// readInt64/writeInt64 take a Uint8Array: a plain one (not a Buffer), and a view at an offset
// into a larger buffer, read and write the same bytes a Buffer does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readInt64, writeInt64 } from '../../src/record/index.js';

const VALUES = [0, 1, -1, 255, 2 ** 32, 2 ** 32 - 1, -(2 ** 32), 1_700_000_000_123, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];

test('readInt64 and writeInt64 work on a plain Uint8Array as on a Buffer', () => {
  for (const v of VALUES) {
    const viaBuffer = Buffer.alloc(12);
    writeInt64(viaBuffer, 3, v);
    // A view that does not start at its ArrayBuffer's first byte: positions are the view's.
    const backing = new Uint8Array(20);
    const plain = backing.subarray(5, 17);
    assert.ok(!Buffer.isBuffer(plain));
    writeInt64(plain, 3, v);
    assert.deepEqual(Buffer.from(plain), viaBuffer, `bytes of ${v}`);
    assert.equal(readInt64(plain, 3), v, `read back ${v}`);
    assert.equal(readInt64(viaBuffer, 3), v);
    assert.equal(backing[0] + backing[1] + backing[2] + backing[3] + backing[4], 0, 'nothing written before the view');
  }
});

test('readInt64 on a plain Uint8Array refuses a position past its end', () => {
  assert.throws(() => readInt64(new Uint8Array(8), 1), RangeError);
});
