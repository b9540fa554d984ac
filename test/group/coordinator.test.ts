import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCoordinator, type CoordinatorOptions } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { fromTopicPartitions, parseTpKey, tpKey } from '../../src/group/types.js';
import { ManualClock, SimConsumer, assertDisjoint, counts, roundsUntilStable } from './sim.js';

async function setup(topics: Record<string, number> = { t: 6 }, opts: CoordinatorOptions = {}) {
  const clock = new ManualClock();
  const dir = new MemoryGenerationDir();
  const store = await OffsetStore.open(dir, { clock });
  let n = 0;
  const coord = new GroupCoordinator(store, { clock, newMemberId: () => `gen-${n++}`, ...opts });
  coord.onTopicsChanged(new Map(Object.entries(topics)));
  return { clock, dir, store, coord };
}

function consumers(coord: GroupCoordinator, n: number, group = 'g', topics = ['t']): SimConsumer[] {
  return Array.from({ length: n }, (_, i) => new SimConsumer(coord, group, `c${i}`, topics));
}

test('3 members on 6 partitions settle at 2/2/2, Stable, all at the group epoch', async () => {
  const { coord } = await setup();
  const cs = consumers(coord, 3);
  const rounds = roundsUntilStable(coord, 'g', cs);
  assert.deepEqual(counts(cs), [2, 2, 2]);
  const d = coord.describeGroups(['g'])[0];
  assert.equal(d.state, 'Stable');
  assert.ok(d.members.every((m) => m.memberEpoch === d.groupEpoch && m.state === 'stable'));
  assert.ok(rounds <= 3, `took ${rounds} rounds`);
});

test('a 4th member: at most 2 partitions move, nobody ever shares one, and kept partitions are never dropped', async () => {
  const { coord } = await setup();
  const cs = consumers(coord, 3);
  roundsUntilStable(coord, 'g', cs);
  const before = cs.map((c) => new Set(c.owned));
  const fourth = new SimConsumer(coord, 'g', 'c3');
  const all = [...cs, fourth];
  fourth.heartbeat();
  assertDisjoint(all);
  // It joins with a target but everything is still held by others: it waits, owning nothing.
  assert.equal(fourth.owned.size, 0);
  assert.equal(coord.describeGroups(['g'])[0].state, 'Reconciling');
  const rounds = roundsUntilStable(coord, 'g', all);
  assert.deepEqual([...counts(all)].sort(), [1, 1, 2, 2]);
  let moved = 0;
  cs.forEach((c, i) => {
    for (const k of before[i]) if (!c.owned.has(k)) moved++;
    // Anything a member still has at the end it held the whole time.
    for (const k of c.owned) assert.ok(!c.lost.has(k), `${c.id} dropped ${k} and got it back`);
  });
  assert.ok(moved <= 2, `moved ${moved}`);
  assert.equal(fourth.owned.size, moved);
  assert.ok(rounds <= 3, `took ${rounds} rounds`);
});

test('a partition moves only after its old owner confirmed the release', async () => {
  const { coord } = await setup({ t: 2 });
  const [a, b] = consumers(coord, 2);
  a.heartbeat();
  assert.equal(a.owned.size, 2);
  b.heartbeat(); // target now gives b one of a's partitions
  assert.equal(b.owned.size, 0);
  a.heartbeat(); // a is told to give it up (its epoch does not move yet)
  assert.equal(a.owned.size, 1);
  const aEpoch = a.epoch;
  const desc = coord.describeGroups(['g'])[0];
  assert.equal(desc.members.find((m) => m.memberId === 'c0')!.state, 'unrevoked');
  b.heartbeat(); // a has not confirmed yet: b still waits
  assert.equal(b.owned.size, 0);
  a.heartbeat(); // confirms by not listing it
  assert.ok(a.epoch > aEpoch);
  b.heartbeat();
  assert.equal(b.owned.size, 1);
  assertDisjoint([a, b]);
});

test('a clean leave (epoch -1) frees the leaver\'s partitions at once', async () => {
  const { coord } = await setup();
  const cs = consumers(coord, 3);
  roundsUntilStable(coord, 'g', cs);
  const leaving = cs[2];
  const freed = new Set(leaving.owned);
  leaving.leave();
  const rest = cs.slice(0, 2);
  for (const c of rest) c.heartbeat();
  // One heartbeat each is enough: nobody has to wait for the leaver to confirm anything.
  assert.deepEqual(counts(rest), [3, 3]);
  for (const k of freed) assert.ok(rest.some((c) => c.owned.has(k)));
  assert.equal(coord.describeGroups(['g'])[0].state, 'Stable');
  assert.throws(() => coord.heartbeat('g', { memberId: leaving.id, memberEpoch: leaving.epoch || 1 }), { code: 'UNKNOWN_MEMBER_ID' });
});

test('session timeout removes a silent member and its partitions are reassigned', async () => {
  const { coord, clock } = await setup({ t: 6 }, { sessionTimeoutMs: 45_000 });
  const cs = consumers(coord, 3);
  roundsUntilStable(coord, 'g', cs);
  const silent = cs[1];
  clock.t += 44_000;
  cs[0].heartbeat();
  cs[2].heartbeat();
  assert.deepEqual((await coord.tick()).removedMembers, []);
  assert.equal(coord.nextDeadline(), clock.t - 44_000 + 45_000);
  clock.t += 1_000;
  assert.deepEqual((await coord.tick()).removedMembers, [silent.id]);
  const live = [cs[0], cs[2]];
  for (const c of live) c.heartbeat();
  assert.deepEqual(counts(live), [3, 3]);
  assert.throws(() => silent.heartbeat(), { code: 'UNKNOWN_MEMBER_ID' });
  // Rejoining with epoch 0 under the same id works.
  silent.epoch = 0;
  silent.owned = new Set();
  roundsUntilStable(coord, 'g', [cs[0], silent, cs[2]]);
  assert.deepEqual(counts(cs), [2, 2, 2]);
});

test('a member that never gives up a revoked partition is removed after its rebalance timeout', async () => {
  const { coord, clock } = await setup({ t: 2 }, { rebalanceTimeoutMs: 10_000, sessionTimeoutMs: 1e9 });
  const a = new SimConsumer(coord, 'g', 'a');
  a.heartbeat();
  const b = new SimConsumer(coord, 'g', 'b');
  b.heartbeat();
  a.heartbeat(); // told to give one up
  const stuck = tpKey('t', [...a.lost][0] ? Number([...a.lost][0].split('\0')[1]) : 0);
  // A misbehaving client keeps reporting it.
  const keep = () => coord.heartbeat('g', { memberId: 'a', memberEpoch: a.epoch, ownedPartitions: [{ topic: 't', partitions: [0, 1] }] });
  keep();
  clock.t += 9_999;
  keep();
  assert.deepEqual((await coord.tick()).removedMembers, []);
  clock.t += 1;
  assert.deepEqual((await coord.tick()).removedMembers, ['a']);
  b.heartbeat();
  assert.ok(b.owned.has(stuck) && b.owned.size === 2);
});

test('epochs fence stale and unknown members', async () => {
  const { coord } = await setup();
  const [a, b] = consumers(coord, 2);
  roundsUntilStable(coord, 'g', [a, b]);
  assert.throws(() => coord.heartbeat('g', { memberId: a.id, memberEpoch: a.epoch + 5 }), { code: 'FENCED_MEMBER_EPOCH' });
  assert.throws(() => coord.heartbeat('g', { memberId: 'nobody', memberEpoch: 3 }), { code: 'UNKNOWN_MEMBER_ID' });
  assert.throws(() => coord.heartbeat('nogroup', { memberId: 'x', memberEpoch: 3 }), { code: 'UNKNOWN_MEMBER_ID' });
  // An old epoch owning something it no longer has is fenced...
  const c = new SimConsumer(coord, 'g', 'c');
  c.heartbeat();
  roundsUntilStable(coord, 'g', [a, b, c]);
  const oldEpoch = 1;
  assert.throws(() => coord.heartbeat('g', { memberId: a.id, memberEpoch: oldEpoch, ownedPartitions: [{ topic: 't', partitions: [0, 1, 2, 3, 4, 5] }] }),
    { code: 'FENCED_MEMBER_EPOCH' });
  // ...and after being fenced it rejoins with epoch 0 and the same id.
  const res = coord.heartbeat('g', { memberId: a.id, memberEpoch: 0, subscribedTopics: ['t'] });
  assert.equal(res.memberId, a.id);
  assert.ok(res.memberEpoch > 0);
});

test('a heartbeat with the previous epoch (lost response) is answered, not fenced', async () => {
  const { coord } = await setup();
  const a = new SimConsumer(coord, 'g', 'a');
  a.heartbeat();
  const prev = a.epoch;
  const b = new SimConsumer(coord, 'g', 'b');
  b.heartbeat();
  a.heartbeat(); // revoke 3
  a.heartbeat(); // confirm: epoch moves on
  assert.ok(a.epoch > prev);
  // The response above was "lost": the client still thinks it is at `prev` and owns its 3.
  const res = coord.heartbeat('g', { memberId: 'a', memberEpoch: prev, ownedPartitions: [...a.owned].length ? [{ topic: 't', partitions: [...a.owned].map((k) => Number(k.split('\0')[1])) }] : [] });
  assert.equal(res.memberEpoch, a.epoch);
});

test('commits: stale epoch refused, unknown member refused, simple commits only while the group is empty', async () => {
  const { coord } = await setup();
  const [a, b] = consumers(coord, 2);
  roundsUntilStable(coord, 'g', [a, b]);
  // Partitions a owns: a member commits only those (another test covers the rest).
  const [m0, m1, m2] = [...a.owned].map((k) => parseTpKey(k).partition).sort((x, y) => x - y);
  const ok = await coord.commitOffsets('g', a.id, a.epoch, [{ topic: 't', partition: m0!, offset: 10 }]);
  assert.equal(ok[0].error, undefined);
  const stale = await coord.commitOffsets('g', a.id, a.epoch - 1, [{ topic: 't', partition: m0!, offset: 11 }, { topic: 't', partition: m1!, offset: 5 }]);
  assert.deepEqual(stale.map((r) => r.error?.code), ['STALE_MEMBER_EPOCH', 'STALE_MEMBER_EPOCH']);
  const fenced = await coord.commitOffsets('g', a.id, a.epoch + 1, [{ topic: 't', partition: m0!, offset: 11 }]);
  assert.equal(fenced[0].error?.code, 'FENCED_MEMBER_EPOCH');
  const unknown = await coord.commitOffsets('g', 'ghost', 1, [{ topic: 't', partition: m0!, offset: 11 }]);
  assert.equal(unknown[0].error?.code, 'UNKNOWN_MEMBER_ID');
  const simple = await coord.commitOffsets('g', undefined, undefined, [{ topic: 't', partition: m0!, offset: 11 }]);
  assert.equal(simple[0].error?.code, 'UNKNOWN_MEMBER_ID');
  assert.equal(coord.fetchOffsets('g', [{ topic: 't', partition: m0! }])[0].offset, 10);
  // One bad entry (an empty topic name: the schema only types names) fails only its own partition.
  const mixed = await coord.commitOffsets('g', a.id, a.epoch, [{ topic: '', partition: m1!, offset: 5 }, { topic: 't', partition: m2!, offset: 7 }]);
  assert.deepEqual(mixed.map((r) => r.error?.code), ['INVALID_REQUEST', undefined]);
  a.leave();
  b.leave();
  const simple2 = await coord.commitOffsets('g', undefined, undefined, [{ topic: 't', partition: 0, offset: 12 }]);
  assert.equal(simple2[0].error, undefined);
  assert.equal(coord.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0].offset, 12);
  const fresh = await coord.commitOffsets('standalone', undefined, undefined, [{ topic: 't', partition: 3, offset: 1 }]);
  assert.equal(fresh[0].error, undefined);
});

test('a commit for a partition the member no longer owns is refused (STALE_MEMBER_EPOCH) after its new owner committed; one it is still revoking is accepted', async () => {
  const { coord } = await setup({ t: 2 });
  const [a, b] = consumers(coord, 2);
  a.heartbeat();
  assert.equal(a.owned.size, 2);
  b.heartbeat(); // the target gives b one of a's partitions
  a.heartbeat(); // a is told to give it up, at the same epoch
  const moved = [...fromTopicPartitions([{ topic: 't', partitions: [0, 1] }])].find((k) => !a.owned.has(k))!;
  const { partition } = parseTpKey(moved);
  const kept = 1 - partition;
  // Still revoking: its commit before the release is the one the new owner starts from.
  const revoking = await coord.commitOffsets('g', a.id, a.epoch, [{ topic: 't', partition, offset: 100 }]);
  assert.equal(revoking[0].error, undefined, 'a commit of a partition the member is still revoking is accepted');
  a.heartbeat(); // confirms the release: its epoch moves on
  b.heartbeat();
  assert.ok(b.owned.has(moved), `b owns t/${partition}`);
  assert.equal((await coord.commitOffsets('g', b.id, b.epoch, [{ topic: 't', partition, offset: 200 }]))[0].error, undefined);
  // a's positions captured before the rebalance, sent (retried) under its new epoch: refused
  // for the partition it gave away, accepted for the one it kept.
  const late = await coord.commitOffsets('g', a.id, a.epoch, [{ topic: 't', partition, offset: 150 }, { topic: 't', partition: kept, offset: 7 }]);
  assert.equal(late[0].error?.code, 'STALE_MEMBER_EPOCH', `a's commit of t/${partition}, now b's: ${late[0].error?.message}`);
  assert.equal(late[0].error?.retriable, false);
  assert.match(late[0].error!.message, /does not own/);
  assert.equal(late[1].error, undefined, 'the partition a kept is committed');
  assert.equal(coord.fetchOffsets('g', [{ topic: 't', partition }])[0].offset, 200, 'the new owner\'s commit stands');
  assert.equal(coord.fetchOffsets('g', [{ topic: 't', partition: kept }])[0].offset, 7);
});

test('a member\'s commits apply in its sequence order: an older commitSeq arriving later (a resend) neither moves the offset back nor fails', async () => {
  const { coord } = await setup({ t: 1 });
  const [a] = consumers(coord, 1);
  roundsUntilStable(coord, 'g', [a!]);
  const at = (offset: number) => [{ topic: 't', partition: 0, offset }];
  const committed = () => coord.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0]!.offset;
  // The later capture (seq 2) arrives first and is durable; the earlier one (seq 1) comes after.
  assert.equal((await coord.commitOffsets('g', a!.id, a!.epoch, at(200), 2))[0]!.error, undefined);
  const late = await coord.commitOffsets('g', a!.id, a!.epoch, at(100), 1);
  assert.equal(late[0]!.error, undefined, 'answered OK: the member\'s newer commit stands for it');
  assert.equal(committed(), 200, 'the older commit did not move the offset back');
  // Both in flight at once, the older one second: it waits for the newer one's write and is not written.
  const newer = coord.commitOffsets('g', a!.id, a!.epoch, at(400), 4);
  const older = coord.commitOffsets('g', a!.id, a!.epoch, at(300), 3);
  assert.deepEqual([(await newer)[0]!.error, (await older)[0]!.error], [undefined, undefined]);
  assert.equal(committed(), 400);
  // The same commit sent twice (its answer was lost) is answered OK and changes nothing.
  assert.equal((await coord.commitOffsets('g', a!.id, a!.epoch, at(400), 4))[0]!.error, undefined);
  // A later sequence wins even with a lower offset (the application seeked back), and commits without a sequence are not ordered.
  await coord.commitOffsets('g', a!.id, a!.epoch, at(50), 5);
  assert.equal(committed(), 50);
  await coord.commitOffsets('g', a!.id, a!.epoch, at(60));
  assert.equal(committed(), 60);
});

test('the commit order survives a coordinator move: a new coordinator over the same store refuses to apply a member\'s older commit, after a compaction too', async () => {
  const clock = new ManualClock();
  const dir = new MemoryGenerationDir({ inPlace: true });
  const open = async () => {
    const c = new GroupCoordinator(await OffsetStore.open(dir, { clock }), { clock, persistMembership: true });
    c.onTopicsChanged(new Map([['t', 1]]));
    return c;
  };
  const first = await open();
  const a = new SimConsumer(first, 'g', 'c0');
  roundsUntilStable(first, 'g', [a]);
  assert.equal((await first.commitOffsets('g', a.id, a.epoch, [{ topic: 't', partition: 0, offset: 200 }], 7))[0]!.error, undefined);
  await first.membershipDurable('g');
  await first.store.compact(); // the snapshot must carry the stamp
  assert.ok(first.store.compactions >= 1);
  // The member's seq-6 commit, sent to the old coordinator before seq 7, is resent to the new one.
  const second = await open();
  const late = await second.commitOffsets('g', a.id, a.epoch, [{ topic: 't', partition: 0, offset: 100 }], 6);
  assert.equal(late[0]!.error, undefined);
  assert.equal(second.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0]!.offset, 200);
  assert.equal((await second.commitOffsets('g', a.id, a.epoch, [{ topic: 't', partition: 0, offset: 300 }], 8))[0]!.error, undefined);
  assert.equal(second.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0]!.offset, 300);
});

test('simple commits (no member id) of one committer apply in its sequence order, across a coordinator move; other committers\' in arrival order', async () => {
  const dir = new MemoryGenerationDir({ inPlace: true });
  const open = async () => {
    const c = new GroupCoordinator(await OffsetStore.open(dir, { clock: new ManualClock() }));
    c.onTopicsChanged(new Map([['t', 1]]));
    return c;
  };
  const at = (offset: number) => [{ topic: 't', partition: 0, offset }];
  const first = await open();
  const committed = (c: GroupCoordinator) => c.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0]!.offset;
  // Committer A's reset numbered 2 arrives before its reset numbered 1 (a resend after a move).
  assert.equal((await first.commitOffsets('g', undefined, undefined, at(200), 2, 'admin-a'))[0]!.error, undefined);
  assert.equal((await first.commitOffsets('g', undefined, undefined, at(100), 1, 'admin-a'))[0]!.error, undefined, 'answered OK: the newer one stands for it');
  assert.equal(committed(first), 200, 'the older simple commit did not move the offset back');
  // Another client's commit is not ordered against A's: arrival order, as in Kafka.
  await first.commitOffsets('g', undefined, undefined, at(50), 0, 'admin-b');
  assert.equal(committed(first), 50);
  await first.commitOffsets('g', undefined, undefined, at(300), 3, 'admin-a');
  // The stamp is stored with the offset: a new coordinator over the same log still refuses A's older one.
  await first.store.compact();
  const second = await open();
  assert.equal((await second.commitOffsets('g', undefined, undefined, at(250), 2, 'admin-a'))[0]!.error, undefined);
  assert.equal(committed(second), 300);
});

test('new partitions of a subscribed topic and new topics matching a pattern are picked up; `__` topics never match', async () => {
  const { coord } = await setup({ t: 2, 'orders-eu': 2, __consumer_offsets: 1 });
  const a = new SimConsumer(coord, 'g', 'a');
  roundsUntilStable(coord, 'g', [a]);
  assert.equal(a.owned.size, 2);
  coord.onTopicsChanged(new Map([['t', 4], ['orders-eu', 2]]));
  roundsUntilStable(coord, 'g', [a]);
  assert.equal(a.owned.size, 4);
  const p = new SimConsumer(coord, 'p', 'p', null, 'orders-.*|__.*');
  roundsUntilStable(coord, 'p', [p]);
  assert.deepEqual([...p.owned].sort(), [tpKey('orders-eu', 0), tpKey('orders-eu', 1)]);
  coord.onTopicsChanged(new Map([['t', 4], ['orders-eu', 2], ['orders-us', 1], ['xorders-us', 1], ['__consumer_offsets', 1]]));
  roundsUntilStable(coord, 'p', [p]);
  assert.deepEqual([...p.owned].sort(), [tpKey('orders-eu', 0), tpKey('orders-eu', 1), tpKey('orders-us', 0)]);
  // Deleting a topic takes its partitions away.
  coord.onTopicsChanged(new Map([['t', 4], ['orders-us', 1]]));
  roundsUntilStable(coord, 'p', [p]);
  assert.deepEqual([...p.owned], [tpKey('orders-us', 0)]);
  assert.throws(() => coord.heartbeat('p', { memberId: 'q', memberEpoch: 0, subscribedPattern: '(' }), { code: 'INVALID_REGULAR_EXPRESSION' });
  assert.throws(() => coord.heartbeat('p', { memberId: 'q', memberEpoch: 0 }), { code: 'INVALID_REQUEST' });
  assert.throws(() => coord.heartbeat('', { memberId: 'q', memberEpoch: 0, subscribedTopics: ['t'] }), { code: 'INVALID_GROUP_ID' });
  assert.deepEqual(coord.listGroups().map((g) => g.groupId), ['g', 'p']);
});

test('10 members joining one after another on 100 partitions converge to 10 each', async () => {
  const { coord } = await setup({ t: 100 });
  const cs: SimConsumer[] = [];
  let joinRounds = 0;
  for (let i = 0; i < 10; i++) {
    cs.push(new SimConsumer(coord, 'g', `c${i}`));
    // One round of heartbeats between joins: the group is still reconciling when the next arrives.
    for (const c of cs) { c.heartbeat(); assertDisjoint(cs); }
    joinRounds++;
  }
  const rounds = roundsUntilStable(coord, 'g', cs);
  assert.deepEqual(counts(cs), Array(10).fill(10));
  const total = cs.reduce((n, c) => n + c.lost.size, 0);
  console.log(`# 10 joins on 100 partitions: stable ${rounds} round(s) after the last join; ${total} partition moves in all`);
  assert.ok(rounds <= 3, `took ${rounds} rounds after the last join`);
  // Moving from i to i+1 members moves ~100/(i+1) partitions; the sum over i=1..9 is ~193.
  assert.ok(total <= 200, `moved ${total}`);
  assert.equal(joinRounds, 10);
});

