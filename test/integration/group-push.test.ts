// Rebalance push: members learn of a rebalance from an unsolicited { id: 0, push: 'group' }
// frame, not at their next heartbeat, so a joiner gets its share well under one interval.
// The broker tells members a 20 s interval (clients take it from the broker; the default
// is 3 s), so the bounds below leave room for stalls of seconds (seen on CI) and still
// sit far below what the same join would take without the push.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Consumer } from '../../src/client/index.js';
import { waitForMetric } from './broker-helpers.js';
import { brokerForFile, complete, groupConsumer, keys, waitFor, joinOneByOne } from './group-helpers.js';

const HEARTBEAT_MS = 20_000;
const env = brokerForFile(['--group-heartbeat-interval-ms', String(HEARTBEAT_MS)]);

async function stable(group: string): Promise<boolean> {
  return (await env.admin.describeGroup(group)).state === 'Stable';
}

test('20 s heartbeat: a second consumer joining a group of one on 6 partitions gets 3 of them far sooner', async () => {
  await env.admin.createTopic('push6', 6);
  const a = groupConsumer(env.broker.url, 'g-push6', ['push6']);
  const b = groupConsumer(env.broker.url, 'g-push6', ['push6']);
  try {
    await joinSecond(a, b);
  } finally {
    await Promise.all([a.close(), b.close()]); // also on failure: open consumers keep the test process alive
  }
});

async function joinSecond(a: Consumer, b: Consumer): Promise<void> {
  await a.connect();
  await waitFor('first consumer owns all 6', async () => keys(a).length === 6 && await stable('g-push6'));
  // Let a's fast reconcile heartbeats end: a lone member heartbeats twice (the join, answered
  // with all 6, and the ack that it owns them); once the broker has answered both, a sits in
  // its 20 s interval, where only a push can make it notice the join before the interval is up.
  await waitForMetric(env.broker.httpUrl, 'sluice_requests_total', { api: 'ConsumerGroupHeartbeat' }, (n) => n >= 2);

  const t0 = Date.now();
  await b.connect();
  await waitFor('3 + 3', () => complete([a, b], 'push6', 6) && keys(a).length === 3 && keys(b).length === 3, 15_000, 2);
  const ms = Date.now() - t0;
  console.log(`second consumer joined a group of one (6 partitions, heartbeatIntervalMs ${HEARTBEAT_MS}): both own 3 after ${ms} ms`);
  assert.ok(ms < 8000, `took ${ms} ms; without the push it is about one heartbeat interval (${HEARTBEAT_MS} ms)`);
}

test('20 s heartbeat: 10 consumers joining one after another on a 100-partition topic settle balanced quickly', async () => {
  await env.admin.createTopic('push100', 100);
  const cs: ReturnType<typeof groupConsumer>[] = Array.from({ length: 10 }, () => groupConsumer(env.broker.url, 'g-push100', ['push100']));
  try {
    await joinTen(cs);
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});

async function joinTen(cs: ReturnType<typeof groupConsumer>[]): Promise<void> {
  const t0 = Date.now();
  const joined = await joinOneByOne(cs);
  await waitFor('10 consumers balanced on 100 partitions',
    async () => complete(cs, 'push100', 100) && cs.every((c) => keys(c).length === 10) && await stable('g-push100'), 15_000, 5)
    .catch(async (err) => {
      // What each side believed when it timed out.
      for (const c of cs) console.log(keys(c).length, c.groupMember(), c.logs.filter((l) => !l.includes('no committed offset')));
      const d = await env.admin.describeGroup('g-push100');
      console.log(d.state, d.groupEpoch, d.members.map((m) => [m.memberEpoch, m.state, m.assignment.flatMap((t) => t.partitions).length, m.revoking.flatMap((t) => t.partitions).length]));
      throw err;
    });
  const ms = Date.now() - t0;
  console.log(`heartbeatIntervalMs ${HEARTBEAT_MS}: 10 consumers joined one after another on 100 partitions: all joined after ${joined} ms, stable and balanced (10 each) after ${ms} ms`);
  // Without the push the last joiner alone waits for the others' 20 s intervals.
  assert.ok(ms < 8000, `took ${ms} ms`);
}
