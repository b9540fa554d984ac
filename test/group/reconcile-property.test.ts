import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { ManualClock, SimConsumer, assertDisjoint, roundsUntilStable } from './sim.js';

const SESSION = 10_000;

const op = fc.oneof(
  fc.record({ kind: fc.constant('join' as const) }),
  fc.record({ kind: fc.constant('heartbeat' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('heartbeat' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('heartbeat' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('leave' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('crash' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('grow' as const), topic: fc.constantFrom('a', 'b'), by: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('resubscribe' as const), who: fc.nat(), topics: fc.constantFrom<string[]>(['a'], ['b'], ['a', 'b']) }),
);

test('property: under any mix of joins, leaves, crashes, heartbeats and new partitions, no partition is ever held twice; the group then converges complete and balanced', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }), fc.array(op, { maxLength: 60 }), async (pa, pb, ops) => {
    const clock = new ManualClock();
    const store = await OffsetStore.open(new MemoryGenerationDir(), { clock });
    let n = 0;
    const coord = new GroupCoordinator(store, { clock, sessionTimeoutMs: SESSION, newMemberId: () => `m${n++}` });
    const topics = new Map([['a', pa], ['b', pb]]);
    coord.onTopicsChanged(topics);
    let live: SimConsumer[] = [];
    const subs = new Map<SimConsumer, string[]>();
    for (const o of ops) {
      if (o.kind === 'join') {
        const c = new SimConsumer(coord, 'g', '', ['a', 'b']);
        live.push(c);
        c.heartbeat();
      } else if (live.length === 0) {
        continue;
      } else if (o.kind === 'heartbeat') {
        live[o.who % live.length].heartbeat();
      } else if (o.kind === 'leave') {
        const c = live[o.who % live.length];
        c.leave();
        live = live.filter((x) => x !== c);
      } else if (o.kind === 'crash') {
        const dead = live[o.who % live.length];
        live = live.filter((x) => x !== dead);
        // The survivors keep heartbeating while the dead one's session runs out.
        clock.t += SESSION / 2;
        for (const c of live) { c.heartbeat(); assertDisjoint(live); }
        clock.t += SESSION / 2;
        for (const c of live) { c.heartbeat(); assertDisjoint(live); }
        const { removedMembers } = await coord.tick();
        assert.deepEqual(removedMembers, [dead.id]);
      } else if (o.kind === 'resubscribe') {
        const c = live[o.who % live.length];
        c.resubscribe(o.topics);
        subs.set(c, o.topics);
      } else {
        topics.set(o.topic, topics.get(o.topic)! + o.by);
        coord.onTopicsChanged(topics);
      }
      assertDisjoint(live);
    }
    if (live.length === 0) return;
    const rounds = roundsUntilStable(coord, 'g', live, 10);
    assert.ok(rounds <= 3, `took ${rounds} rounds`);
    const topicsOf = (c: SimConsumer) => subs.get(c) ?? ['a', 'b'];
    let total = 0;
    for (const t of ['a', 'b']) if (live.some((c) => topicsOf(c).includes(t))) total += topics.get(t)!;
    assert.equal(live.reduce((s, c) => s + c.owned.size, 0), total);
    for (const c of live) for (const k of c.owned) assert.ok(topicsOf(c).includes(k.split('\0')[0]));
    // Balanced: no consumer holds 2+ more than another that could take one of its partitions.
    for (const x of live) for (const y of live) {
      if (x.owned.size < y.owned.size + 2) continue;
      for (const k of x.owned) assert.ok(!topicsOf(y).includes(k.split('\0')[0]), `unbalanced: ${x.owned.size} vs ${y.owned.size}`);
    }
  }), { numRuns: Number(process.env.GROUP_PROP_RUNS ?? 200) });
});
