/**
 * Persisted KIP-848 membership (cluster mode: docs/cluster.md, "Coordinators"): a coordinator
 * built over the store a previous one wrote continues its groups. A member at its epoch keeps
 * its id and partitions with no revocation; another epoch is FENCED_MEMBER_EPOCH, an unknown
 * id UNKNOWN_MEMBER_ID; commits with a member's epoch are accepted; a group whose members all
 * left, or that was deleted, is not brought back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { SluiceError } from '../../src/errors.js';
import { parseTpKey } from '../../src/group/types.js';
import { ManualClock, SimConsumer, counts, roundsUntilStable } from './sim.js';

const TOPICS = new Map([['t', 6]]);

async function coordinatorOver(dir: MemoryGenerationDir, clock: ManualClock): Promise<GroupCoordinator> {
  const store = await OffsetStore.open(dir, { clock, compactMinRecords: 20, compactRatio: 2 });
  const c = new GroupCoordinator(store, { clock, persistMembership: true });
  c.onTopicsChanged(TOPICS);
  return c;
}

/** The same member (id, epoch, partitions) talking to `coord`. */
function moved(c: SimConsumer, coord: GroupCoordinator): SimConsumer {
  const m = new SimConsumer(coord, c.groupId, c.id);
  m.epoch = c.epoch;
  m.owned = new Set(c.owned);
  return m;
}

test('a new coordinator over the same store continues the group: members keep ids, epochs and partitions; other epochs are fenced', async () => {
  const clock = new ManualClock();
  const dir = new MemoryGenerationDir({ inPlace: true });
  const a = await coordinatorOver(dir, clock);
  const cs = ['c0', 'c1', 'c2'].map((id) => new SimConsumer(a, 'g', id));
  roundsUntilStable(a, 'g', cs);
  assert.deepEqual(counts(cs), [2, 2, 2]);
  // Enough rebalancing history for the store to compact in place at least once (a snapshot must carry memberships).
  for (let i = 0; i < 10; i++) {
    const extra = new SimConsumer(a, 'g', `x${i}`);
    extra.heartbeat();
    roundsUntilStable(a, 'g', [...cs, extra]);
    extra.leave();
    roundsUntilStable(a, 'g', cs);
  }
  for (const c of cs) c.lost.clear();
  await a.membershipDurable('g');
  await a.store.idle();
  assert.ok(a.store.compactions >= 1, `compactions ${a.store.compactions}`);
  const before = a.describeGroups(['g'])[0]!;
  const commit = await a.commitOffsets('g', cs[0]!.id, cs[0]!.epoch, [{ topic: 't', partition: parseTpKey([...cs[0]!.owned][0]!).partition, offset: 5 }]);
  assert.equal(commit[0]!.error, undefined);
  // a stops (its broker was killed); b replays the same partition.
  clock.t += 5_000;
  const b = await coordinatorOver(dir, clock);
  const after = b.describeGroups(['g'])[0]!;
  assert.equal(after.groupEpoch, before.groupEpoch);
  assert.deepEqual(after.members.map((m) => [m.memberId, m.memberEpoch, m.assignment]), before.members.map((m) => [m.memberId, m.memberEpoch, m.assignment]));
  const ms = cs.map((c) => moved(c, b));
  for (const m of ms) {
    const ownedBefore = new Set(m.owned);
    const res = m.heartbeat();
    assert.equal(res.memberId, m.id);
    assert.deepEqual(m.owned, ownedBefore, `${m.id} keeps its partitions`);
    assert.equal(m.lost.size, 0, `${m.id} gave nothing up`);
  }
  assert.equal(b.describeGroups(['g'])[0]!.state, 'Stable');
  assert.equal(b.describeGroups(['g'])[0]!.groupEpoch, before.groupEpoch, 'no rebalance');
  // A commit at the member's epoch is accepted by the new coordinator.
  const again = await b.commitOffsets('g', ms[1]!.id, ms[1]!.epoch, [{ topic: 't', partition: parseTpKey([...ms[1]!.owned][0]!).partition, offset: 9 }]);
  assert.equal(again[0]!.error, undefined);
  // An epoch the new coordinator does not know is fenced; an unknown member id is unknown.
  assert.throws(() => b.heartbeat('g', { memberId: ms[2]!.id, memberEpoch: ms[2]!.epoch + 5 }), (e: SluiceError) => e.code === 'FENCED_MEMBER_EPOCH');
  assert.throws(() => b.heartbeat('g', { memberId: 'stranger', memberEpoch: 3 }), (e: SluiceError) => e.code === 'UNKNOWN_MEMBER_ID');
});

test('a group whose members all left is restored empty, and a deleted group not at all', async () => {
  const clock = new ManualClock();
  const dir = new MemoryGenerationDir({ inPlace: true });
  const a = await coordinatorOver(dir, clock);
  const left = [new SimConsumer(a, 'gone', 'm0')];
  roundsUntilStable(a, 'gone', left);
  left[0]!.leave();
  const del = [new SimConsumer(a, 'del', 'm1')];
  roundsUntilStable(a, 'del', del);
  del[0]!.leave();
  await a.membershipDurable('gone');
  await a.membershipDurable('del');
  await a.store.idle();
  assert.deepEqual((await a.deleteGroups(['del']))[0]!.error, undefined);
  const b = await coordinatorOver(dir, clock);
  assert.deepEqual(b.describeGroups(['gone'])[0]!.members, []);
  assert.equal(b.describeGroups(['del'])[0]!.error?.code, 'GROUP_ID_NOT_FOUND');
  assert.throws(() => b.heartbeat('gone', { memberId: 'm0', memberEpoch: 1 }), (e: SluiceError) => e.code === 'UNKNOWN_MEMBER_ID');
});
