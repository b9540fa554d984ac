// Member liveness from the client's side: heartbeats do not depend on message handling,
// a handler stuck past maxPollIntervalMs makes the consumer leave (and rejoin once it
// returns), and a fenced member rejoins by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';
import { brokerForFile, GROUP_BROKER_ARGS, groupConsumer, keys, waitFor } from './group-helpers.js';

const env = brokerForFile();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a slow handler (longer than the session timeout) keeps its member; a stuck one past maxPollIntervalMs leaves and rejoins', async () => {
  await env.admin.createTopic('slow', 2);
  const p = new Producer({ url: env.broker.url });
  await p.send('slow', [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }, { value: 'c', partition: 0 }]);
  await p.close();

  // Session 4000 ms, handler 6000 ms: heartbeats (every 250 ms) run on their own timer, so
  // it stays. The session leaves room for a stall of ~3.5 s (CI has stalled for seconds).
  const slow = groupConsumer(env.broker.url, 'g-slow', ['slow'], { sessionTimeoutMs: 4000, maxPollIntervalMs: 60_000 });
  await slow.connect();
  const epochBefore = { v: 0 };
  let handled = 0;
  const running = slow.run({
    eachMessage: async () => {
      if (handled++ > 0) return; // one slow message makes the point; close() need not wait for more
      epochBefore.v = (await env.admin.describeGroup('g-slow')).groupEpoch;
      await sleep(6000);
    },
  });
  await waitFor('first message handled', () => handled >= 1);
  await sleep(6100);
  const d = await env.admin.describeGroup('g-slow');
  assert.equal(d.members.length, 1);
  assert.equal(d.groupEpoch, epochBefore.v, 'no rebalance while the handler was slow');
  await slow.close();
  await running;

  // maxPollIntervalMs 400 ms, handler stuck until the test lets it go (a fixed time let a
  // stall of the test process miss the window): it leaves, the other member takes over,
  // then it rejoins once the handler returns.
  const stuck = groupConsumer(env.broker.url, 'g-stuck', ['slow'], { maxPollIntervalMs: 400 });
  const other = groupConsumer(env.broker.url, 'g-stuck', ['slow']);
  await stuck.connect();
  let stuckOnce = false;
  let unstick!: () => void;
  const gate = new Promise<void>((r) => { unstick = r; });
  const stuckRun = stuck.run({ eachMessage: async () => { if (!stuckOnce) { stuckOnce = true; await gate; } } });
  try {
    await waitFor('stuck consumer in its handler', () => stuckOnce);
    await other.connect();
    await waitFor('other owns everything', () => keys(other).length === 2, 15_000);
    assert.ok(stuck.logs.some((l) => /handler stuck: no message pulled for \d+ ms \(maxPollIntervalMs 400\); leaving group 'g-stuck'/.test(l)), stuck.logs.join('\n'));
  } finally {
    unstick();
  }
  await waitFor('stuck consumer rejoined after its handler returned', async () => (await env.admin.describeGroup('g-stuck')).members.length === 2, 15_000);
  assert.ok(stuck.logs.some((l) => /rejoining group 'g-stuck'/.test(l)));
  await waitFor('split again', () => keys(stuck).length === 1 && keys(other).length === 1, 15_000);
  await Promise.all([stuck.close(), other.close()]);
  await stuckRun;
});

test('a fenced member drops its partitions and rejoins by itself', async () => {
  await env.admin.createTopic('fence', 2);
  const c = groupConsumer(env.broker.url, 'g-fence', ['fence']);
  await c.connect();
  await waitFor('owns both', () => keys(c).length === 2);
  const { memberId } = c.groupMember()!;
  // Another incarnation of the same member id joins: the running one is now fenced.
  const conn = new Connection(env.broker.url);
  await conn.connect();
  await conn.request(Api.ConsumerGroupHeartbeat, { groupId: 'g-fence', memberId, memberEpoch: 0, subscribedTopics: ['fence'] });
  await waitFor('fenced and rejoined', () => c.logs.some((l) => /FENCED_MEMBER_EPOCH in group 'g-fence'.*rejoining/.test(l)), 5000);
  await waitFor('owns its partitions again', async () => keys(c).length === 2 && (await env.admin.describeGroup('g-fence')).state === 'Stable', 5000);
  await conn.close();
  await c.close();
});
