import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { ManualClock, SimConsumer } from './sim.js';

const DAY = 24 * 3600 * 1000;
const RETENTION = 7 * DAY;

async function start(dir: MemoryGenerationDir, clock: ManualClock) {
  const store = await OffsetStore.open(dir, { clock });
  const coord = new GroupCoordinator(store, { clock, sessionTimeoutMs: 45_000 });
  coord.onTopicsChanged(new Map([['t', 2]]));
  return { store, coord };
}

const offsetOf = (coord: GroupCoordinator, group = 'g') => coord.fetchOffsets(group, [{ topic: 't', partition: 0 }])[0].offset;

test('offsets expire offsetsRetentionMs after the group became empty, not before; the clock survives a restart', async () => {
  const dir = new MemoryGenerationDir();
  const clock = new ManualClock();
  let { store, coord } = await start(dir, clock);
  const c = new SimConsumer(coord, 'g', 'c');
  c.heartbeat();
  await coord.commitOffsets('g', c.id, c.epoch, [{ topic: 't', partition: 0, offset: 42 }]);
  clock.t += DAY;
  c.leave();
  const emptyAt = clock.t;
  await store.idle();
  assert.equal(store.emptySince('g'), emptyAt);

  // Restart half way: the group stays empty since `emptyAt`, not since the restart.
  clock.t = emptyAt + RETENTION / 2;
  await store.close();
  ({ store, coord } = await start(dir, clock));
  clock.t = emptyAt + RETENTION - 1;
  assert.equal((await coord.tick()).expiredOffsets, 0);
  assert.equal(offsetOf(coord), 42);
  assert.deepEqual(coord.listGroups().map((g) => [g.groupId, g.state]), [['g', 'Empty']]);
  clock.t = emptyAt + RETENTION;
  assert.equal((await coord.tick()).expiredOffsets, 1);
  assert.equal(offsetOf(coord), -1);
  assert.deepEqual(coord.listGroups(), []);
  // And the deletion itself is durable.
  await store.close();
  ({ store, coord } = await start(dir, clock));
  assert.deepEqual(store.groups(), []);
});

test('offsets of a group with members never expire, however old the commit', async () => {
  const dir = new MemoryGenerationDir();
  const clock = new ManualClock();
  const { coord } = await start(dir, clock);
  const c = new SimConsumer(coord, 'g', 'c');
  c.heartbeat();
  await coord.commitOffsets('g', c.id, c.epoch, [{ topic: 't', partition: 0, offset: 7 }]);
  for (let i = 0; i < 30; i++) {
    clock.t += DAY / 2;
    c.heartbeat(); // a heartbeat every half day would time out with 45 s sessions, so tick right after it
    await coord.tick();
    clock.t += 1;
  }
  assert.ok(clock.t - 1_000_000 > 2 * RETENTION);
  assert.equal(offsetOf(coord), 7);
});

test('a group that had members when the broker stopped counts as empty from the restart', async () => {
  const dir = new MemoryGenerationDir();
  const clock = new ManualClock();
  let { store, coord } = await start(dir, clock);
  const c = new SimConsumer(coord, 'g', 'c');
  c.heartbeat();
  await coord.commitOffsets('g', c.id, c.epoch, [{ topic: 't', partition: 0, offset: 1 }]);
  await store.close(); // "crash" with a member in the group
  clock.t += 3 * DAY;
  const restartAt = clock.t;
  ({ store, coord } = await start(dir, clock));
  assert.equal(store.emptySince('g'), restartAt);
  clock.t = restartAt + RETENTION - 1;
  await coord.tick();
  assert.equal(offsetOf(coord), 1);
  clock.t = restartAt + RETENTION;
  await coord.tick();
  assert.equal(offsetOf(coord), -1);
});

test('simple-consumer commits to a memberless group expire by their own commit time', async () => {
  const clock = new ManualClock();
  const { coord } = await start(new MemoryGenerationDir(), clock);
  await coord.commitOffsets('s', undefined, undefined, [{ topic: 't', partition: 0, offset: 1 }]);
  clock.t += RETENTION / 2;
  await coord.commitOffsets('s', undefined, undefined, [{ topic: 't', partition: 1, offset: 1 }]);
  clock.t += RETENTION / 2;
  assert.equal((await coord.tick()).expiredOffsets, 1);
  assert.deepEqual(coord.fetchOffsets('s').map((o) => o.partition), [1]);
  clock.t += RETENTION / 2;
  assert.equal((await coord.tick()).expiredOffsets, 1);
  assert.deepEqual(coord.listGroups(), []);
});

test('describe, delete and offset delete follow the group state', async () => {
  const clock = new ManualClock();
  const { coord } = await start(new MemoryGenerationDir(), clock);
  // An offset of a topic nobody subscribes to: committed while the group had no members (a
  // member may commit only the partitions it owns).
  assert.equal((await coord.commitOffsets('g', undefined, undefined, [{ topic: 'other', partition: 0, offset: 4 }]))[0].error, undefined);
  const c = new SimConsumer(coord, 'g', 'c');
  c.heartbeat();
  await coord.commitOffsets('g', c.id, c.epoch, [{ topic: 't', partition: 0, offset: 3 }]);
  const d = coord.describeGroups(['g', 'nope']);
  assert.equal(d[0].state, 'Stable');
  assert.equal(d[0].assignor, 'sticky');
  assert.deepEqual(d[0].members[0].assignment, [{ topic: 't', partitions: [0, 1] }]);
  assert.deepEqual(d[0].offsets!.map((o) => [o.topic, o.offset]), [['other', 4], ['t', 3]]);
  assert.equal(d[1].state, 'Dead');
  assert.equal(d[1].error?.code, 'GROUP_ID_NOT_FOUND');
  assert.deepEqual((await coord.deleteGroups(['g', 'nope'])).map((r) => r.error?.code), ['NON_EMPTY_GROUP', 'GROUP_ID_NOT_FOUND']);
  const del = await coord.deleteOffsets('g', [{ topic: 't', partition: 0 }, { topic: 'other', partition: 0 }]);
  assert.deepEqual(del.map((r) => r.error?.code), ['GROUP_SUBSCRIBED_TO_TOPIC', undefined]);
  assert.deepEqual(coord.fetchOffsets('g').map((o) => o.topic), ['t']);
  assert.deepEqual(coord.listGroups(['Stable']).map((g) => g.groupId), ['g']);
  assert.deepEqual(coord.listGroups(['Empty']), []);
  c.leave();
  assert.deepEqual((await coord.deleteGroups(['g'])).map((r) => r.error), [undefined]);
  assert.deepEqual(coord.listGroups(), []);
  assert.equal(coord.fetchOffsets('g').length, 0);
});
