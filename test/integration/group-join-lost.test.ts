// A join the broker applied but whose answer the consumer never used (closed right after
// connect(), or the answer lost and the join sent again) must not leave a member behind
// that holds partitions nobody reads until its session times out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/client/index.js';
import { Api } from '../../src/protocol/api.js';
import { Connection } from '../../src/client/connection.js';
import { brokerForFile, groupConsumer, waitFor } from './group-helpers.js';

const SESSION_MS = 30_000;
const env = brokerForFile();

test('close() right after connect() leaves the group: the next consumer reads at once, not after the session timeout', async () => {
  await env.admin.createTopic('jl', 4);
  const p = new Producer({ url: env.broker.url, acks: 1 });
  await p.send('jl', Array.from({ length: 20 }, (_, i) => ({ value: `v${i}`, partition: i % 4 })));
  await p.close();

  const a = groupConsumer(env.broker.url, 'g-jl', ['jl'], { sessionTimeoutMs: SESSION_MS });
  await a.connect(); // the join is on its way; its answer has not been used
  await a.close();
  const started = Date.now();
  const b = groupConsumer(env.broker.url, 'g-jl', ['jl'], { sessionTimeoutMs: SESSION_MS });
  let got = 0;
  const running = b.run({ eachMessage: () => { got++; } });
  await waitFor('the second consumer read everything', () => got === 20, 15_000);
  const took = Date.now() - started;
  assert.ok(took < SESSION_MS / 3, `took ${took} ms: the first consumer's join outlived its close`);
  const d = await env.admin.describeGroup('g-jl');
  assert.deepEqual(d.members.map((m) => m.memberId), [b.groupMember()!.memberId]);
  await b.close();
  await running;
});

test('the same member id joining again replaces the first incarnation (a join sent twice is one member)', async () => {
  await env.admin.createTopic('jl2', 2);
  const c = groupConsumer(env.broker.url, 'g-jl2', ['jl2'], { sessionTimeoutMs: SESSION_MS });
  const id = c.groupMember()?.memberId;
  assert.match(id ?? '', /^[0-9a-f-]{36}$/, 'the client picks its member id before the first join');
  // The first join's answer "lost": sent on a side connection and ignored.
  const conn = new Connection(env.broker.url);
  await conn.connect();
  await conn.request(Api.ConsumerGroupHeartbeat, { groupId: 'g-jl2', memberId: id!, memberEpoch: 0, subscribedTopics: ['jl2'], sessionTimeoutMs: SESSION_MS });
  await conn.close();
  await c.connect(); // joins again with the same id
  await waitFor('one member owning both partitions', async () => {
    const d = await env.admin.describeGroup('g-jl2');
    return d.members.length === 1 && d.members[0].memberId === id && d.members[0].assignment.flatMap((t) => t.partitions).length === 2;
  }, 10_000);
  await c.close();
});
