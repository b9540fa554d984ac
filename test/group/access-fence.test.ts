/**
 * With auth on, a member whose user loses read on its group, or on a topic its subscription
 * names, is removed from the group (GroupConfig.groupAccess / topicAccess; docs/security.md,
 * "Authorization"): at the ACL change (onAccessChanged), or at its next heartbeat when the
 * coordinator did not see the change (a coordinator built after it). Its partitions go to a
 * member that may read them; the coordinator integration test is security-acl.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { SluiceError } from '../../src/errors.js';
import { ManualClock, SimConsumer, roundsUntilStable } from './sim.js';

/** Who may read what (topics and groups by name), changed by the tests as an ACL change would. */
type Grants = Map<string, Set<string>>;

async function coordinator(grants: Grants, dir = new MemoryGenerationDir({ inPlace: true }), clock = new ManualClock()) {
  const store = await OffsetStore.open(dir, { clock });
  const may = (user: string, name: string) => grants.get(user)?.has(name) === true;
  const coord = new GroupCoordinator(store, { clock, persistMembership: true, topicAccess: may, groupAccess: may });
  coord.onTopicsChanged(new Map([['orders', 2], ['audit', 1]]));
  return { coord, dir, clock };
}

function member(coord: GroupCoordinator, id: string, user: string, topics = ['orders']): SimConsumer {
  const c = new SimConsumer(coord, 'g', id, topics);
  c.principal = user;
  return c;
}

const both = (): Grants => new Map([['alice', new Set(['g', 'orders', 'audit'])], ['bob', new Set(['g', 'orders', 'audit'])]]);

for (const [what, revoked] of [['a topic it names', 'orders'], ['its group', 'g']] as const) {
  test(`a member whose user loses read on ${what} is removed at the ACL change; the other member gets its partitions`, async () => {
    const grants = both();
    const { coord } = await coordinator(grants);
    const alice = member(coord, 'a', 'alice');
    const bob = member(coord, 'b', 'bob');
    roundsUntilStable(coord, 'g', [alice, bob]);
    assert.equal(alice.owned.size, 1);
    assert.deepEqual(coord.onAccessChanged(), [], 'nothing revoked: nobody fenced');
    grants.get('alice')!.delete(revoked);
    assert.deepEqual(coord.onAccessChanged(), ['a']);
    assert.deepEqual(coord.describeGroups(['g'])[0].members.map((m) => m.memberId), ['b']);
    roundsUntilStable(coord, 'g', [bob]);
    assert.equal(bob.owned.size, 2, 'bob holds both partitions of orders');
    assert.throws(() => alice.heartbeat(), (e: unknown) => e instanceof SluiceError && e.code === 'UNKNOWN_MEMBER_ID');
  });
}

test('a revocation the coordinator never saw (it was built after it) fences the member at its heartbeat, with the authorization error', async () => {
  const grants = both();
  const first = await coordinator(grants);
  const alice = member(first.coord, 'a', 'alice', ['audit', 'orders']);
  const bob = member(first.coord, 'b', 'bob');
  roundsUntilStable(first.coord, 'g', [alice, bob]);
  await first.coord.membershipDurable('g');
  grants.get('alice')!.delete('audit');
  const second = await coordinator(grants, first.dir, first.clock);
  assert.deepEqual(second.coord.describeGroups(['g'])[0].members.map((m) => m.memberId), ['a', 'b']);
  const moved = new SimConsumer(second.coord, 'g', 'a', ['audit', 'orders']);
  moved.epoch = alice.epoch;
  moved.owned = new Set(alice.owned);
  moved.principal = 'alice';
  assert.throws(() => moved.heartbeat(), (e: unknown) => e instanceof SluiceError && e.code === 'TOPIC_AUTHORIZATION_FAILED' && !e.retriable && /"alice" may not read topic "audit"/.test(e.message));
  assert.deepEqual(second.coord.describeGroups(['g'])[0].members.map((m) => m.memberId), ['b']);
  const bobMoved = new SimConsumer(second.coord, 'g', 'b', ['orders']);
  bobMoved.epoch = bob.epoch;
  bobMoved.owned = new Set(bob.owned);
  bobMoved.principal = 'bob';
  roundsUntilStable(second.coord, 'g', [bobMoved]);
  assert.equal(bobMoved.owned.size, 2, 'bob holds both partitions of orders');
});

test('a pattern member is not fenced for a topic it may no longer read (it is assigned only what it may read); a member without a user is never fenced', async () => {
  const grants = both();
  const { coord } = await coordinator(grants);
  const pattern = new SimConsumer(coord, 'g', 'p', null, 'ord.*');
  pattern.principal = 'alice';
  const anon = new SimConsumer(coord, 'g', 'n', ['orders']);
  roundsUntilStable(coord, 'g', [pattern, anon]);
  grants.get('alice')!.delete('orders');
  assert.deepEqual(coord.onAccessChanged(), []);
  roundsUntilStable(coord, 'g', [pattern, anon]);
  assert.deepEqual(coord.describeGroups(['g'])[0].members.map((m) => m.memberId), ['n', 'p']);
  assert.equal(pattern.owned.size, 0);
  assert.equal(anon.owned.size, 2);
});
