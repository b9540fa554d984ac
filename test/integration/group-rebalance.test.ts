// Consumer groups over the real broker: balanced assignment, a joiner moves few
// partitions, a clean leave is reassigned at once, and the time for 10 consumers joining
// one after another on a 100-partition topic to settle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerForFile, GROUP_BROKER_ARGS, complete, groupConsumer, keys, waitFor, joinOneByOne } from './group-helpers.js';

// A 30 s session, so "a clean leave is reassigned at once" can be bounded at 10 s (room
// for stalls of seconds, seen on CI) and still be far below waiting out the session.
const SESSION_MS = 30_000;
const env = brokerForFile(GROUP_BROKER_ARGS.map((a, i) => (GROUP_BROKER_ARGS[i - 1] === '--group-session-timeout-ms' ? String(SESSION_MS) : a)));

async function stable(group: string): Promise<boolean> {
  return (await env.admin.describeGroup(group)).state === 'Stable';
}

test('3 consumers share 6 partitions 2/2/2; a 4th moves at most 2; a clean leave is reassigned at once', async () => {
  await env.admin.createTopic('rb6', 6);
  const cs = [0, 1, 2].map(() => groupConsumer(env.broker.url, 'g-rb6', ['rb6']));
  await Promise.all(cs.map((c) => c.connect()));
  await waitFor('3 consumers balanced', async () => complete(cs, 'rb6', 6) && cs.every((c) => keys(c).length === 2) && await stable('g-rb6'));

  const before4 = new Map(cs.flatMap((c, i) => keys(c).map((k) => [k, i] as const)));
  const c4 = groupConsumer(env.broker.url, 'g-rb6', ['rb6']);
  await c4.connect();
  const all = [...cs, c4];
  // c4 owning something first: before its join reaches the broker, the old 3-member state is also complete and stable.
  await waitFor('4 consumers balanced', async () => keys(c4).length > 0 && complete(all, 'rb6', 6) && await stable('g-rb6'));
  assert.deepEqual(all.map((c) => keys(c).length).sort(), [1, 1, 2, 2]);
  const moved = [...before4].filter(([k, i]) => !keys(cs[i]).includes(k)).length;
  assert.ok(moved <= 2, `a 4th member moved ${moved} partitions`);
  assert.equal(keys(c4).length, moved);

  const d = await env.admin.describeGroup('g-rb6');
  assert.equal(d.members.length, 4);
  assert.deepEqual(d.members.flatMap((m) => m.assignment.flatMap((t) => t.partitions)).sort(), [0, 1, 2, 3, 4, 5]);

  // Clean leave: the session timeout is 30 s here, so "at once" must be far below it.
  const t0 = Date.now();
  await cs[0].close();
  const rest = all.slice(1);
  await waitFor('reassignment after a clean leave', async () => complete(rest, 'rb6', 6) && await stable('g-rb6'), 10_000);
  const ms = Date.now() - t0;
  console.log(`clean leave: partitions reassigned and group Stable after ${ms} ms (session timeout ${SESSION_MS} ms)`);
  assert.ok(ms < 10_000);
  await Promise.all(rest.map((c) => c.close()));
  assert.equal((await env.admin.describeGroup('g-rb6')).state, 'Empty');
});

test('10 consumers joining one after another on a 100-partition topic settle balanced quickly', async () => {
  await env.admin.createTopic('rb100', 100);
  const cs = Array.from({ length: 10 }, () => groupConsumer(env.broker.url, 'g-rb100', ['rb100']));
  const t0 = Date.now();
  const joined = await joinOneByOne(cs);
  await waitFor('10 consumers balanced on 100 partitions',
    async () => complete(cs, 'rb100', 100) && cs.every((c) => keys(c).length === 10) && await stable('g-rb100'), 15_000, 5);
  const ms = Date.now() - t0;
  console.log(`10 consumers joined one after another (each waits for its join answer) on 100 partitions: all joined after ${joined} ms, stable and balanced (10 each) after ${ms} ms`);
  assert.ok(ms < 10_000);
  await Promise.all(cs.map((c) => c.close()));
});

test('a pattern subscription picks up a new matching topic and new partitions', async () => {
  await env.admin.createTopic('pat-a', 2);
  const c = groupConsumer(env.broker.url, 'g-pat', /pat-.*/);
  await c.connect();
  await waitFor('pattern assignment', () => keys(c).length === 2);
  await env.admin.createTopic('pat-b', 1);
  await waitFor('new topic picked up', () => keys(c).includes('pat-b/0'));
  await env.admin.createPartitions('pat-a', 3);
  await waitFor('new partition picked up', () => keys(c).includes('pat-a/2'));
  assert.deepEqual(keys(c), ['pat-a/0', 'pat-a/1', 'pat-a/2', 'pat-b/0']);
  await c.close();
});
