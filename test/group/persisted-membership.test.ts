/**
 * A persisted KIP-848 membership record that is damaged or hostile (review finding 6): a new
 * coordinator restoring it must not crash and must not corrupt the group. What is invalid is
 * skipped with a warning naming the group and the field (persisted-membership.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import type { RestoreWarning } from '../../src/group/persisted-membership.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import type { SluiceError } from '../../src/errors.js';
import { tpKey } from '../../src/group/types.js';
import { ManualClock, SimConsumer, roundsUntilStable } from './sim.js';

const TOPICS = new Map([['t', 4]]);
const k = (p: number) => tpKey('t', p);

/** A member as the coordinator writes it, with `over` replacing fields. */
function member(id: string, assigned: number[], over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, epoch: 3, previousEpoch: 2, topics: ['t'], pattern: null, rebalanceTimeoutMs: 60_000, sessionTimeoutMs: 10_000,
    assigned: assigned.map(k), revoking: [], owned: assigned.map(k), state: 'stable', targetSince: 3, ...over,
  };
}

function group(members: Record<string, unknown>[], over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1, epoch: 3, targetEpoch: 3, metadata: [['t', 4]], members,
    target: members.map((m) => [m.id, m.assigned]), ...over,
  };
}

/** A coordinator restoring `records` (group -> packed bytes) from its store; the warnings it reported. */
async function restored(records: Record<string, Buffer>, clock = new ManualClock()): Promise<{ c: GroupCoordinator; warnings: RestoreWarning[] }> {
  const dir = new MemoryGenerationDir({ inPlace: true });
  const writer = await OffsetStore.open(dir, { clock });
  for (const [g, packed] of Object.entries(records)) await writer.setMembership(g, packed);
  await writer.close();
  const store = await OffsetStore.open(dir, { clock });
  const warnings: RestoreWarning[] = [];
  const c = new GroupCoordinator(store, { clock, persistMembership: true, sessionTimeoutMs: 30_000, onRestoreWarning: (w) => warnings.push(w) });
  c.onTopicsChanged(TOPICS);
  return { c, warnings };
}

function owners(c: GroupCoordinator, g: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of c.describeGroups([g])[0]!.members) {
    for (const tp of [...m.assignment, ...m.revoking]) {
      for (const p of tp.partitions) {
        assert.ok(!out.has(p), `partition ${p} held by ${out.get(p)} and ${m.memberId}`);
        out.set(p, m.memberId);
      }
    }
  }
  return out;
}

test('a valid record is restored as written, with no warning', async () => {
  const { c, warnings } = await restored({ g: pack(group([member('a', [0, 1]), member('b', [2, 3])])) });
  assert.deepEqual(warnings, []);
  assert.deepEqual([...owners(c, 'g')].sort(), [[0, 'a'], [1, 'a'], [2, 'b'], [3, 'b']]);
  assert.equal(c.heartbeat('g', { memberId: 'a', memberEpoch: 3 }).memberEpoch, 3);
});

test('a record that cannot be used at all drops that group\'s membership only, naming the group and field; its members rejoin', async () => {
  const { c, warnings } = await restored({
    undecodable: Buffer.from([0xc1, 0xff, 0x00]),
    noVersion: pack({ ...group([member('a', [0])]), v: undefined }),
    badEpoch: pack(group([member('a', [0])], { epoch: '3' })),
    aheadTarget: pack(group([member('a', [0])], { targetEpoch: 9 })),
    noMembers: pack(group([], { members: { a: 1 } })),
    notObject: pack([1, 2, 3]),
    fine: pack(group([member('a', [0, 1, 2, 3])])),
  });
  const fields = new Map(warnings.map((w) => [w.group, w.field]));
  assert.deepEqual(Object.fromEntries(fields), {
    undecodable: '(record)', noVersion: 'v', badEpoch: 'epoch', aheadTarget: 'targetEpoch', noMembers: 'members', notObject: '(record)',
  });
  for (const g of ['undecodable', 'noVersion', 'badEpoch', 'aheadTarget', 'noMembers', 'notObject']) {
    assert.throws(() => c.heartbeat(g, { memberId: 'a', memberEpoch: 3 }), (err: SluiceError) => err.code === 'UNKNOWN_MEMBER_ID', g);
    // The member rejoins and the group works.
    const s = new SimConsumer(c, g, 'a');
    roundsUntilStable(c, g, [s]);
    assert.equal(s.owned.size, 4, g);
  }
  assert.equal(owners(c, 'fine').size, 4);
});

test('a member with an invalid identity, subscription or partition list is dropped; the others keep theirs', async () => {
  const { c, warnings } = await restored({
    g: pack(group([
      member('a', [0]),
      member('', [1]),
      member('c', [1], { epoch: 99 }),
      member('d', [1], { assigned: [5, 'x'] }),
      member('e', [1], { revoking: [k(2), k(2)] }),
      member('f', [1], { pattern: '(', topics: null }),
      member('h', [1], { topics: null }),
      member('a', [1]),
      'not a member' as unknown as Record<string, unknown>,
      member('b', [1]),
    ])),
  });
  assert.deepEqual(warnings.map((w) => w.field), [
    'members[1].id', 'members[2].epoch', 'members[3].assigned', 'members[4].revoking', 'members[5].pattern', 'members[6].topics',
    'members[7].id', 'members[8].(member)',
    'target[1]', 'target[2]', 'target[3]', 'target[4]', 'target[5]', 'target[6]', 'target[7]', 'target[8]',
  ]);
  assert.ok(warnings.every((w) => w.group === 'g'));
  assert.deepEqual([...owners(c, 'g')].sort(), [[0, 'a'], [1, 'b']]);
  for (const id of ['c', 'd', 'e', 'f', 'h']) assert.throws(() => c.heartbeat('g', { memberId: id, memberEpoch: 3 }), (err: SluiceError) => err.code === 'UNKNOWN_MEMBER_ID', id);
});

test('a partition claimed by two members stays with the first; the second is dropped, so no partition has two owners', async () => {
  const { c, warnings } = await restored({ g: pack(group([member('a', [0, 1]), member('b', [1, 2]), member('c', [3], { revoking: [k(0)] })])) });
  assert.deepEqual(warnings.filter((w) => w.field.startsWith('members')).map((w) => w.field), ['members[1].assigned', 'members[2].assigned']);
  assert.match(warnings[0]!.problem, /t\/1 is already held by 'a'/);
  assert.deepEqual([...owners(c, 'g')].sort(), [[0, 'a'], [1, 'a']]);
  // The freed partitions go to a member that asks, never to two.
  const s = new SimConsumer(c, 'g', 'z');
  roundsUntilStable(c, 'g', [s, Object.assign(new SimConsumer(c, 'g', 'a'), { epoch: 3, owned: new Set([k(0), k(1)]) })]);
  owners(c, 'g');
});

test('invalid timeouts, owned, state, targetSince and previous epoch are replaced by safe values and named', async () => {
  const clock = new ManualClock();
  const { c, warnings } = await restored({
    g: pack(group([member('a', [0, 1], {
      sessionTimeoutMs: -5, rebalanceTimeoutMs: 'soon', owned: 7, state: 'dancing', targetSince: 1e300, previousEpoch: 42,
    })], { metadata: [['t', 4], ['', 3], 'x'], target: [['a', [k(0), k(1)]], ['ghost', [k(2)]]] })),
  }, clock);
  assert.deepEqual(warnings.map((w) => w.field).sort(), [
    'members[0].owned', 'members[0].previousEpoch', 'members[0].rebalanceTimeoutMs', 'members[0].sessionTimeoutMs', 'members[0].state',
    'members[0].targetSince', 'metadata[1]', 'metadata[2]', 'target[1]',
  ]);
  assert.match(warnings.find((w) => w.field === 'members[0].sessionTimeoutMs')!.problem, /group default 30000/);
  // The member keeps its partitions and goes on; with the group's 30 s session (not -5 ms or never) it times out.
  const res = c.heartbeat('g', { memberId: 'a', memberEpoch: 3, ownedPartitions: [{ topic: 't', partitions: [0, 1] }] });
  assert.deepEqual(res.assignment, [{ topic: 't', partitions: [0, 1] }]);
  clock.t += 29_000;
  assert.deepEqual((await c.tick()).removedMembers, []);
  clock.t += 2_000;
  assert.deepEqual((await c.tick()).removedMembers, ['a']);
});

test('a 64-bit integer where a number belongs (msgpack decodes it as a bigint) is named and dropped; the partition still loads', async () => {
  const { c, warnings } = await restored({
    huge: pack(group([member('a', [0])], { epoch: 2n ** 64n - 1n })),
    hugeMember: pack(group([member('a', [0], { epoch: 2n ** 63n }), member('b', [1])])),
    fine: pack(group([member('a', [0, 1, 2, 3])])),
  });
  assert.ok(warnings.some((w) => w.group === 'huge' && w.field === 'epoch'), JSON.stringify(warnings, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  assert.ok(warnings.some((w) => w.group === 'hugeMember'), 'the member with a bigint epoch is named');
  assert.throws(() => c.heartbeat('huge', { memberId: 'a', memberEpoch: 3 }), (err: SluiceError) => err.code === 'UNKNOWN_MEMBER_ID');
  assert.equal(owners(c, 'fine').size, 4);
});

test('a member whose persisted user is not a user name is dropped, not restored unfiltered; a good one is kept', async () => {
  const { c, warnings } = await restored({
    g: pack(group([
      member('bad', [0, 1], { topics: null, pattern: 't', principal: 42 }),
      member('good', [2, 3], { topics: null, pattern: 't', principal: 'alice' }),
    ])),
  });
  assert.deepEqual(c.describeGroups(['g'])[0]!.members.map((m) => m.memberId), ['good']);
  assert.ok(warnings.some((w) => w.field === 'members[0].principal' && /42 is not a user name/.test(w.problem)), JSON.stringify(warnings));
});
