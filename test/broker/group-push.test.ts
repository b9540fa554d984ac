// GroupPush: who gets a rebalance push (only members whose target changed), batching and
// coalescing, and that nothing is kept for closed connections, departed members or
// timed-out members. The last tests wire it to a real coordinator, as group-service.ts does,
// and count the frames many members joining one group cost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupPush } from '../../src/broker/group-push.js';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { fromTopicPartitions, toTopicPartitions, tpKey } from '../../src/group/types.js';
import { ManualClock } from '../group/sim.js';

const WINDOW = 3000;

class FakeConn {
  closed = false;
  frames: object[] = [];
  private hooks = new Set<() => void>();
  onClose(fn: () => void): () => void {
    this.hooks.add(fn);
    return () => this.hooks.delete(fn);
  }
  push(msg: object): void {
    this.frames.push(msg);
  }
  close(): void {
    this.closed = true;
    for (const fn of [...this.hooks]) fn();
  }
  get hookCount(): number {
    return this.hooks.size;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

test('a bump pushes once to each member whose target changed, skipping the member whose heartbeat caused it', async () => {
  const live = new Set(['g/a', 'g/b', 'g/c', 'g/d', 'h/x']);
  const push = new GroupPush((g, m) => live.has(`${g}/${m}`), { windowMs: WINDOW });
  const [a, b, c, d, x] = [new FakeConn(), new FakeConn(), new FakeConn(), new FakeConn(), new FakeConn()];
  push.track('g', 'a', a);
  push.track('g', 'b', b);
  push.track('g', 'd', d);
  push.track('h', 'x', x);
  push.during('g', 'c', () => {
    push.epochBumped('g', ['a', 'c']);
    push.epochBumped('g', ['a', 'b', 'c']); // a second bump in the same turn: still one frame each
  });
  push.track('g', 'c', c);
  await tick();
  assert.deepEqual(a.frames, [{ id: 0, push: 'group', groupId: 'g' }]);
  assert.equal(b.frames.length, 1);
  assert.equal(c.frames.length, 0, 'the requester learns from its own answer');
  assert.equal(d.frames.length, 0, 'a member whose target did not change is not told');
  assert.equal(x.frames.length, 0, 'other groups are not told');
});

test('a member pushed within the window is not pushed again until it heartbeats; after the window it is', async () => {
  let now = 0;
  const push = new GroupPush(() => true, { windowMs: WINDOW, now: () => now });
  const a = new FakeConn();
  push.track('g', 'a', a);
  push.epochBumped('g', ['a']);
  await tick();
  assert.equal(a.frames.length, 1);
  now = 100;
  push.epochBumped('g', ['a']); // its heartbeat for the first push is still to come and will see this too
  await tick();
  assert.equal(a.frames.length, 1);
  assert.equal(push.pushesCoalesced, 1);
  push.track('g', 'a', a); // that heartbeat was answered
  now = 200;
  push.epochBumped('g', ['a']);
  await tick();
  assert.equal(a.frames.length, 2, 'a change after its heartbeat is pushed');
  now = 200 + WINDOW; // no heartbeat for a whole interval (a lost push): push again
  push.epochBumped('g', ['a']);
  await tick();
  assert.equal(a.frames.length, 3);
});

test('entries go with the connection, the member, or the coordinator forgetting it; re-tracking moves the close hook', async () => {
  const live = new Set(['g/a', 'g/b']);
  const push = new GroupPush((g, m) => live.has(`${g}/${m}`), { windowMs: WINDOW });
  const [a1, a2, b] = [new FakeConn(), new FakeConn(), new FakeConn()];
  push.track('g', 'a', a1);
  push.track('g', 'a', a2); // reconnected: the old connection's hook is removed
  assert.equal(a1.hookCount, 0);
  push.track('g', 'b', b);
  assert.equal(push.size, 2);
  a2.close();
  assert.equal(push.size, 1);
  assert.equal(a2.hookCount, 0);
  live.delete('g/b'); // timed out on the broker while its socket stays open
  push.sweep();
  assert.equal(push.size, 0);
  assert.equal(b.hookCount, 0);
  push.track('g', 'b', b);
  push.untrack('g', 'b'); // left
  assert.equal(push.size, 0);
  push.epochBumped('g', ['b']);
  await tick();
  assert.equal(b.frames.length, 0);
});

test('a push finds a member the coordinator no longer has and drops it instead of sending', async () => {
  const live = new Set(['g/a']);
  const push = new GroupPush((g, m) => live.has(`${g}/${m}`), { windowMs: WINDOW });
  const a = new FakeConn();
  push.track('g', 'a', a);
  live.clear();
  push.epochBumped('g', ['a']);
  await tick();
  assert.equal(a.frames.length, 0);
  assert.equal(push.size, 0);
});

/**
 * `n` members join group 'g' on a topic of `partitions` partitions, `perBurst` joins per
 * event-loop turn, through a real coordinator wired to GroupPush as group-service.ts does.
 * Each member heartbeats when pushed and, while its answer says it has something left to
 * do (the short reconcile interval), once per round; no regular heartbeats happen (as if
 * the joins came faster than the 3 s interval). Returns the push frames sent and the
 * members, once nobody has anything left to do.
 */
async function joinMany(n: number, partitions: number, perBurst = 1) {
  const clock = new ManualClock();
  const store = await OffsetStore.open(new MemoryGenerationDir(), { clock });
  let push: GroupPush | undefined;
  const coord = new GroupCoordinator(store, {
    clock, heartbeatIntervalMs: WINDOW, reconcileHeartbeatIntervalMs: 50,
    onEpochBump: (group, _epoch, _members, changed) => push!.epochBumped(group, changed),
  });
  push = new GroupPush((g, m) => coord.hasMember(g, m), { windowMs: WINDOW, now: () => clock.now() });
  coord.onTopicsChanged(new Map([['t', partitions]]));
  let frames = 0;
  let maxPerFlush = 0;
  const members: { id: string; epoch: number; owned: Set<string>; pushed: boolean; busy: boolean; frames: number; conn: FakeConn }[] = [];
  const heartbeat = (m: (typeof members)[number]) => {
    m.pushed = false;
    const out = push!.during('g', m.id, () => coord.heartbeat('g', {
      memberId: m.id, memberEpoch: m.epoch, ownedPartitions: toTopicPartitions(m.owned), ...(m.epoch === 0 ? { subscribedTopics: ['t'] } : {}),
    }));
    push!.track('g', m.id, m.conn);
    m.epoch = out.memberEpoch;
    m.owned = fromTopicPartitions(out.assignment ?? []);
    m.busy = out.heartbeatIntervalMs < WINDOW;
  };
  const drain = async () => {
    for (let round = 0; round < 500; round++) {
      const before = new Map(members.map((m) => [m, m.frames]));
      await tick(); // pushes go out on setImmediate
      for (const m of members) maxPerFlush = Math.max(maxPerFlush, m.frames - (before.get(m) ?? 0));
      const due = members.filter((m) => m.pushed || m.busy);
      if (due.length === 0) return;
      for (const m of due) heartbeat(m);
    }
    assert.fail('members still busy after 500 rounds');
  };
  for (let i = 0; i < n; i++) {
    const conn = new FakeConn();
    const m = { id: `m${String(i).padStart(5, '0')}`, epoch: 0, owned: new Set<string>(), pushed: false, busy: false, frames: 0, conn };
    conn.push = () => { frames++; m.frames++; m.pushed = true; };
    members.push(m);
    heartbeat(m);
    if ((i + 1) % perBurst === 0) await drain();
  }
  await drain();
  return { frames, maxPerFlush, members, coord };
}

function assertCompleteAndDisjoint(members: { id: string; owned: Set<string> }[], partitions: number): void {
  const owner = new Map<string, string>();
  for (const m of members) {
    for (const k of m.owned) {
      assert.ok(!owner.has(k), `partition ${k.replace('\0', '/')} owned by ${owner.get(k)} and ${m.id}`);
      owner.set(k, m.id);
    }
  }
  for (let p = 0; p < partitions; p++) assert.ok(owner.has(tpKey('t', p)), `partition t/${p} owned by nobody`);
  const counts = members.map((m) => m.owned.size);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `unbalanced: ${Math.min(...counts)}..${Math.max(...counts)}`);
}

test('members joining one group one by one: push frames grow about linearly, and members converge complete and disjoint', async () => {
  // Pushing every earlier member on every join cost n(n-1)/2 frames: 124,750 for 500.
  const small = await joinMany(125, 250);
  const large = await joinMany(500, 1000);
  console.log(`push frames: 125 members joining: ${small.frames}; 500 members: ${large.frames}`);
  for (const { members, coord } of [small, large]) {
    assertCompleteAndDisjoint(members, members.length * 2);
    assert.equal(coord.describeGroups(['g'])[0].state, 'Stable');
  }
  // Join k takes about P/k partitions from as many members, so the sum grows like n log n
  // (measured: 575 and 3014 frames); n(n-1)/2 would be 7,750 and 124,750.
  assert.ok(large.frames <= 10 * 500, `${large.frames} frames for 500 members`);
  // 4x the members: about 4-5x the frames; quadratic growth would be 16x.
  assert.ok(large.frames <= 8 * Math.max(small.frames, 125), `125 members: ${small.frames} frames, 500: ${large.frames}`);
});

test('joins arriving in bursts: each member gets at most one push per burst, and the group still converges', async () => {
  const { frames, maxPerFlush, members, coord } = await joinMany(300, 600, 20);
  console.log(`push frames: 300 members joining in bursts of 20: ${frames}`);
  assertCompleteAndDisjoint(members, 600);
  assert.equal(coord.describeGroups(['g'])[0].state, 'Stable');
  assert.equal(maxPerFlush, 1, 'twenty bumps in one turn: one frame per member at most');
  assert.ok(frames <= 10 * 300, `${frames} frames`);
});
