import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stickyAssignor } from '../../src/group/assignor-sticky.js';
import { rangeAssignor } from '../../src/group/assignor-range.js';
import { roundRobinAssignor } from '../../src/group/assignor-roundrobin.js';
import { assignorByName } from '../../src/group/assignors.js';
import { parseTpKey, tpKey, type Assignor, type AssignorMember } from '../../src/group/types.js';

const ASSIGNORS: [string, Assignor][] = [['sticky', stickyAssignor], ['range', rangeAssignor], ['roundrobin', roundRobinAssignor]];

function members(n: number, topics: string[], current: Map<string, Set<string>> = new Map()): AssignorMember[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `m${String(i).padStart(3, '0')}`;
    return { id, topics, current: current.get(id) ?? new Set() };
  });
}

function sizes(out: Map<string, Set<string>>): number[] {
  return [...out.values()].map((s) => s.size);
}

/** Every partition of a subscribed topic is held exactly once, by a member subscribed to its topic. */
function assertComplete(ms: readonly AssignorMember[], counts: ReadonlyMap<string, number>, out: Map<string, Set<string>>): void {
  assert.deepEqual([...out.keys()].sort(), ms.map((m) => m.id).sort());
  const seen = new Map<string, string>();
  for (const [id, set] of out) {
    const m = ms.find((x) => x.id === id)!;
    for (const k of set) {
      assert.ok(!seen.has(k), `${k} assigned to ${seen.get(k)} and ${id}`);
      seen.set(k, id);
      const { topic, partition } = parseTpKey(k);
      assert.ok(m.topics.includes(topic), `${id} got ${k} without subscribing to ${topic}`);
      assert.ok(partition < counts.get(topic)!);
    }
  }
  let expected = 0;
  for (const [t, c] of counts) if (ms.some((m) => m.topics.includes(t))) expected += c;
  assert.equal(seen.size, expected);
}

function moves(before: Map<string, Set<string>>, after: Map<string, Set<string>>): number {
  let n = 0;
  for (const [id, set] of before) for (const k of set) if (!after.get(id)?.has(k)) n++;
  return n;
}

test('3 members on 6 partitions get 2/2/2 with every assignor', () => {
  const counts = new Map([['t', 6]]);
  for (const [name, a] of ASSIGNORS) {
    const out = a(members(3, ['t']), counts);
    assert.deepEqual(sizes(out), [2, 2, 2], name);
    assertComplete(members(3, ['t']), counts, out);
  }
});

test('sticky: a 4th member on 6 partitions moves at most 2, and the earlier 3 keep the rest', () => {
  const counts = new Map([['t', 6]]);
  const first = stickyAssignor(members(3, ['t']), counts);
  const second = stickyAssignor(members(4, ['t'], first), counts);
  assert.ok(moves(first, second) <= 2, `moved ${moves(first, second)}`);
  assert.deepEqual(sizes(second).sort(), [1, 1, 2, 2]);
  assertComplete(members(4, ['t']), counts, second);
});

test('range hands out contiguous runs, extra partitions to the first members', () => {
  const out = rangeAssignor(members(3, ['a', 'b']), new Map([['a', 7], ['b', 2]]));
  assert.deepEqual([...out.get('m000')!], [tpKey('a', 0), tpKey('a', 1), tpKey('a', 2), tpKey('b', 0)]);
  assert.deepEqual([...out.get('m001')!], [tpKey('a', 3), tpKey('a', 4), tpKey('b', 1)]);
  assert.deepEqual([...out.get('m002')!], [tpKey('a', 5), tpKey('a', 6)]);
});

test('unknown assignor name is a typed error', () => {
  assert.throws(() => assignorByName('nope'), { code: 'UNSUPPORTED_ASSIGNOR' });
});

// --- properties ------------------------------------------------------------------

const TOPICS = ['a', 'b', 'c', 'd'];
const scenario = fc.record({
  counts: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 4, maxLength: 4 }),
  subs: fc.array(fc.subarray(TOPICS, { minLength: 1 }), { minLength: 0, maxLength: 9 }),
});

function build(s: { counts: number[]; subs: string[][] }): { ms: AssignorMember[]; counts: Map<string, number> } {
  const counts = new Map(TOPICS.map((t, i) => [t, s.counts[i]] as [string, number]));
  const ms = s.subs.map((topics, i) => ({ id: `m${i}`, topics, current: new Set<string>() }));
  return { ms, counts };
}

test('property: every assignor is complete and deterministic under member reordering', () => {
  fc.assert(fc.property(scenario, (s) => {
    const { ms, counts } = build(s);
    for (const [name, a] of ASSIGNORS) {
      const out = a(ms, counts);
      assertComplete(ms, counts, out);
      const again = a([...ms].reverse(), counts);
      for (const [id, set] of out) assert.deepEqual([...again.get(id)!].sort(), [...set].sort(), name);
    }
  }), { numRuns: 300 });
});

test('property: sticky is balanced (same subscriptions: within one; otherwise no improving single move)', () => {
  fc.assert(fc.property(scenario, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 30 }), (s, n, p) => {
    const homo = stickyAssignor(members(n, ['t']), new Map([['t', p]]));
    assert.ok(Math.max(...sizes(homo)) - Math.min(...sizes(homo)) <= 1);
    const { ms, counts } = build(s);
    const out = stickyAssignor(ms, counts);
    for (const a of ms) for (const b of ms) {
      if (out.get(a.id)!.size < out.get(b.id)!.size + 2) continue;
      for (const k of out.get(a.id)!) assert.ok(!b.topics.includes(parseTpKey(k).topic), `${a.id} could give ${k} to ${b.id}`);
    }
  }), { numRuns: 300 });
});

test('property: sticky keeps a valid balanced assignment unchanged, and adding one member to N moves <= ceil(P/(N+1))', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 1000 }), (n, p, seed) => {
    const counts = new Map([['t', p]]);
    // Start from an arbitrary balanced assignment (rotated round robin), not one sticky produced.
    const start = new Map<string, Set<string>>();
    for (let i = 0; i < n; i++) start.set(`m${String(i).padStart(3, '0')}`, new Set());
    for (let q = 0; q < p; q++) start.get(`m${String((q + seed) % n).padStart(3, '0')}`)!.add(tpKey('t', q));
    const same = stickyAssignor(members(n, ['t'], start), counts);
    assert.equal(moves(start, same), 0);
    const grown = stickyAssignor(members(n + 1, ['t'], start), counts);
    assertComplete(members(n + 1, ['t']), counts, grown);
    assert.ok(moves(start, grown) <= Math.ceil(p / (n + 1)), `moved ${moves(start, grown)} of ${p} going ${n}->${n + 1}`);
    // Removing a member moves only that member's partitions.
    const gone = 'm000';
    const shrunk = stickyAssignor(members(n, ['t'], start).filter((m) => m.id !== gone), counts);
    const survivors = new Map([...start].filter(([id]) => id !== gone));
    assert.equal(moves(survivors, shrunk), 0);
  }), { numRuns: 300 });
});
