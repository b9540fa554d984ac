// Committed offsets and group administration over the real broker: lag in describe,
// durability across a restart, reset-offsets (CLI) then replay, stale-epoch commits,
// DeleteGroups refused while members remain, internal topics hidden, group metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Consumer, Producer, type Message } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api, type BodyOf } from '../../src/protocol/api.js';
import { GROUP_BROKER_ARGS, groupConsumer, keys, waitFor } from './group-helpers.js';
import { runCli, type CliResult } from './cli-process.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker({ args: GROUP_BROKER_ARGS }); });
after(async () => { await broker.stop(); });

const sluice = (args: string[]): Promise<CliResult> => runCli(broker.url, args);

async function take(c: Consumer, n: number): Promise<Message[]> {
  const out: Message[] = [];
  const timer = setTimeout(() => void c.close(), 10_000);
  await c.run({ eachMessage: async (m) => { out.push(m); if (out.length >= n) await c.close(); } });
  clearTimeout(timer);
  return out;
}

test('committed offsets: lag in describe, survive a restart, reset-offsets via CLI replays', async (t) => {
  let admin = new Admin({ url: broker.url });
  await admin.createTopic('off', 2);
  const p = new Producer({ url: broker.url });
  await p.send('off', Array.from({ length: 100 }, (_, i) => ({ value: `m${i}`, partition: i % 2 })));
  await p.close();

  // Read 60 with manual commits only; close() must not commit beyond what commit() did.
  const c = groupConsumer(broker.url, 'g-off', ['off'], { autoCommit: false });
  await c.connect();
  const got: Message[] = [];
  // The handler of the 60th message holds until the checks below are done, so nothing is
  // delivered past what commit() covers, however slow the commit is.
  let openGate!: () => void;
  const gate = new Promise<void>((r) => { openGate = r; });
  t.after(() => openGate());
  let running!: Promise<void>;
  await new Promise<void>((resolve, reject) => {
    running = c.run({ eachMessage: async (m) => { got.push(m); if (got.length === 60) { resolve(); await gate; } } });
    running.catch(reject);
  });
  // commit() covers the 59 handled messages, not the 60th, whose handler is still running.
  await c.commit();
  const committed = await admin.fetchOffsets('g-off');
  const byPart = new Map(committed.map((o) => [o.partition, o.offset]));
  const handledNext = new Map<number, number>();
  for (const m of got.slice(0, 59)) handledNext.set(m.partition, Math.max(handledNext.get(m.partition) ?? 0, m.offset + 1));
  for (const [part, next] of handledNext) assert.equal(byPart.get(part), next, `partition ${part}: committed ${byPart.get(part)}, handled up to ${next}`);
  assert.equal(byPart.get(got[59].partition), got[59].offset, 'the message whose handler is running is not committed');
  openGate();
  await c.close();
  await running;
  assert.ok(c.logs.some((l) => /no committed offset for off\/0; starting at earliest/.test(l)), c.logs.join('\n'));

  const d = await admin.describeGroup('g-off');
  assert.equal(d.state, 'Empty');
  for (const o of d.offsets!) {
    assert.equal(o.logEndOffset, 50);
    assert.equal(o.lag, 50 - o.offset);
  }
  const desc = await sluice(['group', 'describe', 'g-off']);
  assert.equal(desc.code, 0, desc.stderr);
  const total = d.offsets!.reduce((s, o) => s + o.lag!, 0);
  assert.match(desc.stdout, new RegExp(`total lag ${total}\\b`));
  assert.match(desc.stdout, /state Empty/);
  assert.match(desc.stdout, /^COORDINATOR\s+this broker \(single node\)$/m);
  assert.equal(d.coordinator, -1, 'a single broker coordinates every group');

  await admin.close();
  await broker.restart();
  admin = new Admin({ url: broker.url });
  assert.deepEqual((await admin.fetchOffsets('g-off')).map((o) => [o.partition, o.offset]).sort(), committed.map((o) => [o.partition, o.offset]).sort());
  const list = await sluice(['group', 'list']);
  assert.match(list.stdout, /g-off\s+Empty/);

  // A restarted member resumes at the committed offsets: nothing before them again.
  const c2 = groupConsumer(broker.url, 'g-off', ['off']);
  await c2.connect();
  const rest = await take(c2, 100 - [...byPart.values()].reduce((a, b) => a + b, 0));
  for (const m of rest) assert.ok(m.offset >= byPart.get(m.partition)!, `replayed ${m.partition}/${m.offset} below the committed offset`);

  // reset-offsets: dry run changes nothing, the real one rewinds, a consumer replays everything.
  const dry = await sluice(['group', 'reset-offsets', 'g-off', '--topic', 'off', '--to-earliest', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stderr, /dry run/);
  assert.ok((await admin.fetchOffsets('g-off')).every((o) => o.offset === 50));
  const reset = await sluice(['group', 'reset-offsets', 'g-off', '--topic', 'off', '--to-earliest']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.ok((await admin.fetchOffsets('g-off')).every((o) => o.offset === 0));
  const shift = await sluice(['group', 'reset-offsets', 'g-off', '--topic', 'off', '--shift-by', '45']);
  assert.equal(shift.code, 0, shift.stderr);
  assert.ok((await admin.fetchOffsets('g-off')).every((o) => o.offset === 45));
  const c3 = groupConsumer(broker.url, 'g-off', ['off']);
  await c3.connect();
  const replay = await take(c3, 10);
  assert.deepEqual(replay.map((m) => m.offset).sort(), [45, 45, 46, 46, 47, 47, 48, 48, 49, 49]);

  // While a member is in the group, reset and delete are refused.
  const c4 = groupConsumer(broker.url, 'g-off', ['off']);
  await c4.connect();
  await waitFor('member joined', () => keys(c4).length === 2);
  const refused = await sluice(['group', 'reset-offsets', 'g-off', '--topic', 'off', '--to-latest']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /NON_EMPTY_GROUP/);
  await assert.rejects(admin.deleteGroup('g-off'), (e: Error & { code?: string }) => e.code === 'NON_EMPTY_GROUP');
  await c4.close();
  const del = await sluice(['group', 'delete', 'g-off']);
  assert.equal(del.code, 0, del.stderr);
  await assert.rejects(admin.describeGroup('g-off'), (e: Error & { code?: string }) => e.code === 'GROUP_ID_NOT_FOUND');
  await admin.close();
});

test('epochs: a stale-epoch commit and a wrong-epoch heartbeat are refused with clear errors', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('ep', 1);
  const conn = new Connection(broker.url);
  await conn.connect();
  const hb = (body: Omit<BodyOf<typeof Api.ConsumerGroupHeartbeat>, 'groupId'>) => conn.request(Api.ConsumerGroupHeartbeat, { groupId: 'g-ep', ...body });
  const a = await hb({ memberId: '', memberEpoch: 0, subscribedTopics: ['ep'] });
  const epochA = a.memberEpoch;
  const b = await hb({ memberId: '', memberEpoch: 0, subscribedTopics: ['ep'] });
  assert.ok(b.memberEpoch > epochA);
  const a2 = await hb({ memberId: a.memberId, memberEpoch: epochA, ownedPartitions: [{ topic: 'ep', partitions: [0] }] });
  assert.ok(a2.memberEpoch > epochA, 'A moved to the new epoch');

  const res = await conn.request(Api.OffsetCommit, {
    groupId: 'g-ep', memberId: a.memberId, memberEpoch: epochA, partitions: [{ topic: 'ep', partition: 0, offset: 1 }],
  });
  assert.equal(res.partitions[0].error?.code, 113); // STALE_MEMBER_EPOCH
  assert.match(res.partitions[0].error!.message, new RegExp(`epoch ${epochA}, current is ${a2.memberEpoch}`));
  assert.equal((await admin.fetchOffsets('g-ep', [{ topic: 'ep', partition: 0 }]))[0].offset, -1, 'nothing committed');

  await assert.rejects(hb({ memberId: a.memberId, memberEpoch: 99 }), (e: Error & { code?: string }) => e.code === 'FENCED_MEMBER_EPOCH' && /rejoin/.test(e.message));
  await assert.rejects(conn.request(Api.OffsetCommit, { groupId: 'g-ep', partitions: [{ topic: 'ep', partition: '0', offset: 1 }] } as never),
    (e: Error & { code?: string }) => e.code === 'INVALID_REQUEST' && /partitions\[0\]\.partition/.test(e.message));
  await assert.rejects(hb({ memberId: '', memberEpoch: 0, subscribedTopics: ['ep'], sessionTimeoutMs: 10 }),
    (e: Error & { code?: string }) => e.code === 'INVALID_SESSION_TIMEOUT');
  await conn.close();
  await admin.close();
});

test('internal topics are hidden and protected; group metrics are exported', async () => {
  const admin = new Admin({ url: broker.url });
  const topics = (await admin.listTopics()).map((t) => t.name);
  assert.ok(!topics.some((t) => t.startsWith('__')), topics.join(','));
  await assert.rejects(admin.createTopic('__mine', 1), (e: Error & { code?: string }) => e.code === 'INVALID_TOPIC');
  await assert.rejects(admin.deleteTopic('__consumer_offsets-0'), (e: Error & { code?: string }) => e.code === 'INVALID_TOPIC');
  const p = new Producer({ url: broker.url });
  await assert.rejects(p.send('__consumer_offsets-0', [{ value: 'x', partition: 0 }]), (e: Error & { code?: string }) => e.code === 'INVALID_TOPIC');
  await p.close().catch(() => {});

  await admin.createTopic('met', 1);
  const prod = new Producer({ url: broker.url });
  await prod.send('met', Array.from({ length: 10 }, (_, i) => ({ value: `x${i}`, timestamp: Date.now() - 60_000 })));
  await prod.close();
  const conn = new Connection(broker.url);
  await conn.connect();
  await conn.request(Api.OffsetCommit, { groupId: 'g-met', partitions: [{ topic: 'met', partition: 0, offset: 4 }] });
  await conn.close();
  const scrape = async () => (await fetch(`${broker.httpUrl}/metrics`)).text();
  let text = await scrape();
  assert.match(text, /sluice_group_lag_messages\{group="g-met",topic="met",partition="0"\} 6/);
  assert.match(text, /sluice_group_committed_offset\{group="g-met",topic="met",partition="0"\} 4/);
  // lag seconds is read in the background at the first scrape and reported from the next.
  await waitFor('lag seconds', async () => {
    text = await scrape();
    const m = /sluice_group_lag_seconds\{group="g-met",topic="met",partition="0"\} ([\d.]+)/.exec(text);
    return !!m && Number(m[1]) >= 59 && Number(m[1]) < 120;
  }, 15_000, 50);
  assert.match(text, /sluice_group_rebalances_total\{group="g-ep"\} [1-9]/);
  await admin.close();
});

test('sluice consume --group: two runs together read everything once, committing as they go', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('cli-g', 2);
  const p = new Producer({ url: broker.url });
  await p.send('cli-g', Array.from({ length: 40 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })));
  await p.close();
  const first = await sluice(['consume', 'cli-g', '--group', 'g-cli', '--from-beginning', '--max-messages', '30']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim().split('\n').length, 30);
  assert.equal((await admin.fetchOffsets('g-cli')).reduce((s, o) => s + o.offset, 0), 30, 'close() committed what was printed');
  const second = await sluice(['consume', 'cli-g', '--group', 'g-cli', '--max-messages', '10']);
  assert.equal(second.code, 0, second.stderr);
  const all = [...first.stdout.trim().split('\n'), ...second.stdout.trim().split('\n')].sort();
  assert.deepEqual(all, Array.from({ length: 40 }, (_, i) => `v${i}`).sort());
  await admin.close();
});

test('reset-offsets of a group that does not exist creates it with those offsets (as Kafka\'s tool does), and a consumer of it starts there', async () => {
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('newg', 1);
  const p = new Producer({ url: broker.url });
  await p.send('newg', Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })));
  await p.close();

  const dry = await sluice(['group', 'reset-offsets', 'g-new', '--topic', 'newg', '--to-offset', '7', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stderr, /group 'g-new' does not exist yet; without --dry-run it is created with these offsets/);
  await assert.rejects(admin.describeGroup('g-new'), (e: Error & { code?: string }) => e.code === 'GROUP_ID_NOT_FOUND');

  const r = await sluice(['group', 'reset-offsets', 'g-new', '--topic', 'newg', '--to-offset', '7']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /group 'g-new' did not exist: created it with committed offsets for 1 partition/);
  const d = await admin.describeGroup('g-new');
  assert.deepEqual(d.offsets?.map((o) => [o.topic, o.partition, o.offset]), [['newg', 0, 7]]);
  const c = groupConsumer(broker.url, 'g-new', ['newg'], { autoOffsetReset: 'earliest' });
  const got = await take(c, 3);
  assert.deepEqual(got.map((m) => m.value?.toString()), ['m7', 'm8', 'm9']);
  await admin.close();
});
