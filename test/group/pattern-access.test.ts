/**
 * With auth on, a member subscribed by pattern is assigned only the matching topics its user
 * may read (GroupConfig.topicAccess; docs/security.md, "Authorization"): a pattern never hands
 * a member partitions it may not fetch, nor tells it names of topics it may not see. An ACL
 * change (onAccessChanged) moves the assignment; the member's user survives a coordinator move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { parseTpKey } from '../../src/group/types.js';
import { ManualClock, SimConsumer, roundsUntilStable } from './sim.js';

/** Who may read what: user -> topics, changed by the tests as an ACL change would. */
type Grants = Map<string, Set<string>>;

async function coordinator(grants: Grants, topics: Record<string, number>, dir = new MemoryGenerationDir({ inPlace: true }), clock = new ManualClock()) {
  const store = await OffsetStore.open(dir, { clock });
  const coord = new GroupCoordinator(store, {
    clock, persistMembership: true, topicAccess: (user, topic) => grants.get(user)?.has(topic) === true,
  });
  coord.onTopicsChanged(new Map(Object.entries(topics)));
  return { coord, dir, clock };
}

function member(coord: GroupCoordinator, id: string, user: string): SimConsumer {
  const c = new SimConsumer(coord, 'g', id, null, 'orders-.*');
  c.principal = user;
  return c;
}

const topicsOf = (c: SimConsumer): string[] => [...new Set([...c.owned].map((k) => parseTpKey(k).topic))].sort();

test('a pattern member is assigned only the matching topics its user may read; a reader of the rest gets those', async () => {
  const grants: Grants = new Map([['alice', new Set(['orders-eu'])], ['bob', new Set(['orders-eu', 'orders-secret'])]]);
  const { coord } = await coordinator(grants, { 'orders-eu': 2, 'orders-secret': 2, other: 1 });
  const alice = member(coord, 'a', 'alice');
  const bob = member(coord, 'b', 'bob');
  roundsUntilStable(coord, 'g', [alice, bob]);
  assert.deepEqual(topicsOf(alice), ['orders-eu']);
  assert.equal(bob.owned.size + alice.owned.size, 4, 'every partition of both topics is assigned');
  assert.ok(topicsOf(bob).includes('orders-secret'));
  const described = coord.describeGroups(['g'])[0].members.find((m) => m.memberId === 'a')!;
  assert.deepEqual(described.targetAssignment.map((t) => t.topic), ['orders-eu'], 'alice\'s target names no topic she may not read');
});

test('an ACL granted or removed moves the assignment at the next onAccessChanged; no change, no rebalance', async () => {
  const grants: Grants = new Map([['alice', new Set(['orders-eu'])]]);
  const { coord } = await coordinator(grants, { 'orders-eu': 1, 'orders-secret': 1 });
  const alice = member(coord, 'a', 'alice');
  roundsUntilStable(coord, 'g', [alice]);
  assert.deepEqual(topicsOf(alice), ['orders-eu']);
  const epoch = coord.describeGroups(['g'])[0].groupEpoch;
  coord.onAccessChanged();
  assert.equal(coord.describeGroups(['g'])[0].groupEpoch, epoch, 'the same access: no new epoch');
  grants.get('alice')!.add('orders-secret');
  coord.onAccessChanged();
  roundsUntilStable(coord, 'g', [alice]);
  assert.deepEqual(topicsOf(alice), ['orders-eu', 'orders-secret']);
  grants.get('alice')!.delete('orders-eu');
  coord.onAccessChanged();
  roundsUntilStable(coord, 'g', [alice]);
  assert.deepEqual(topicsOf(alice), ['orders-secret']);
});

test('the member\'s user is persisted: a new coordinator keeps filtering its pattern; a member without a user is not filtered', async () => {
  const grants: Grants = new Map([['alice', new Set(['orders-eu'])]]);
  const first = await coordinator(grants, { 'orders-eu': 1 });
  const alice = member(first.coord, 'a', 'alice');
  const anon = new SimConsumer(first.coord, 'h', 'n', null, 'orders-.*');
  roundsUntilStable(first.coord, 'g', [alice]);
  roundsUntilStable(first.coord, 'h', [anon]);
  await first.coord.membershipDurable('g');
  await first.coord.membershipDurable('h');
  const second = await coordinator(grants, { 'orders-eu': 1 }, first.dir, first.clock);
  const moved = new SimConsumer(second.coord, 'g', alice.id, null, 'orders-.*');
  moved.epoch = alice.epoch;
  moved.owned = new Set(alice.owned);
  moved.principal = 'alice';
  const anonMoved = new SimConsumer(second.coord, 'h', anon.id, null, 'orders-.*');
  anonMoved.epoch = anon.epoch;
  anonMoved.owned = new Set(anon.owned);
  // A new matching topic alice may not read: the restored member must not get it.
  second.coord.onTopicsChanged(new Map([['orders-eu', 1], ['orders-new', 1]]));
  assert.deepEqual(second.coord.describeGroups(['g'])[0].members[0].targetAssignment.map((t) => t.topic), ['orders-eu']);
  roundsUntilStable(second.coord, 'g', [moved]);
  roundsUntilStable(second.coord, 'h', [anonMoved]);
  assert.deepEqual(topicsOf(moved), ['orders-eu']);
  assert.deepEqual(topicsOf(anonMoved), ['orders-eu', 'orders-new'], 'auth off (no user): every match');
});
