import { test } from 'node:test';
import assert from 'node:assert/strict';
import { array, bool, bytes, int, map, oneOf, optional, refine, str, struct, union, SchemaError } from '../../src/protocol/schema.js';

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SchemaError, `expected SchemaError, got ${String(e)}`);
    return e.text;
  }
  assert.fail('no SchemaError');
}

const item = struct({ topic: str(), partition: int({ min: 0, max: 65535 }), note: optional(str({ max: 3 })) });
const req = struct({ topics: array(item, { max: 3 }), flag: optional(bool()) });

test('the error names the path of the bad field', () => {
  const body = { topics: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 1 }, { topic: 'c', partition: 70000 }] };
  assert.equal(problem(() => req.check(body)), 'topics[2].partition must be in 0..65535, got 70000');
  assert.equal(problem(() => req.check({ topics: [{ topic: 'a', partition: 1.5 }] })), 'topics[0].partition must be an integer in 0..65535');
  assert.equal(problem(() => req.check({ topics: [{ topic: 'a', partition: 0, note: 'long' }] })), 'topics[0].note must be a string of 0..3 characters');
  assert.equal(problem(() => req.check({ topics: [[]] })), 'topics[0] must be a map');
  assert.equal(problem(() => req.check({ topics: [1, 2, 3, 4] })), 'topics must have at most 3 items, got 4');
  assert.equal(problem(() => array(array(int({ min: 0, max: 1 }))).check([[0], [1, 2]])), '[1][1] must be in 0..1, got 2');
});

test('optional: missing or null is absent, null is deleted; extra fields are ignored', () => {
  const v = req.check({ topics: [{ topic: 'a', partition: 0, note: null, extra: { anything: 1 } }], flag: null }) as Record<string, unknown>;
  assert.equal('flag' in v, false);
  assert.equal('note' in (v.topics as Record<string, unknown>[])[0], false);
  assert.equal(problem(() => req.check({ topics: null })), 'topics must be an array of maps');
});

test('a map is a plain object only; hostile maps are not turned into strings', () => {
  for (const bad of [[], Buffer.alloc(1), new Date(0), new Map()]) assert.equal(problem(() => map().check(bad)), 'must be a map');
  const bare: unknown = Object.create(null);
  assert.equal(map().check(bare), bare);
  // String({ toString: 1 }) throws; the message must not try.
  assert.equal(problem(() => oneOf([0, 1]).check({ toString: 1 })), 'must be one of 0, 1, got object');
});

test('bytes: a plain Uint8Array comes back as a Buffer over the same memory', () => {
  const u = new Uint8Array([1, 2, 3]);
  const s = struct({ b: bytes() });
  const o = s.check({ b: u });
  assert.ok(Buffer.isBuffer(o.b));
  assert.equal(o.b.buffer, u.buffer);
  assert.equal(problem(() => s.check({ b: [1, 2] })), 'b must be binary (msgpack bin)');
});

test('oneOf carries its wire code; union, exact struct and refine', () => {
  const acks = oneOf([0, 1, -1], { code: 'INVALID_REQUIRED_ACKS' });
  assert.throws(() => acks.check(2), (e: unknown) => e instanceof SchemaError && e.code === 'INVALID_REQUIRED_ACKS');
  const to = union([oneOf(['earliest']), struct({ offset: int({ min: 0, max: 9 }) }, { exact: true })], 'must be earliest or {offset}');
  assert.equal(to.check('earliest'), 'earliest');
  assert.deepEqual(to.check({ offset: 3 }), { offset: 3 });
  for (const bad of [{ offset: 3, more: 1 }, { offset: -1 }, 'latest', null]) assert.equal(problem(() => to.check(bad)), 'must be earliest or {offset}');
  const distinct = struct({ ps: refine(array(int({ min: 0, max: 9 })), (ps) => (new Set(ps).size !== ps.length ? ['', 'must not repeat'] : undefined)) });
  assert.equal(problem(() => distinct.check({ ps: [1, 1] })), 'ps must not repeat');
});
