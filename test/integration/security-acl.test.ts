/**
 * ACLs on one broker with auth: scram (docs/security.md, "Authorization"): each refusal comes
 * with its error and changes nothing; each operation works with exactly its ACL; a topic the
 * principal may not describe is answered as a missing one; internal topics are off limits even
 * to a super user; an ACL added or removed applies to an open connection without a restart;
 * deny wins; prefix rules. The first ACL is added offline (`sluice acl add --data-dir`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, Producer, QueueAdmin, QueueConsumer, type AclBinding } from '../../src/client/index.js';
import { Api } from '../../src/protocol/api.js';
import { ERRORS, SluiceError } from '../../src/errors.js';
import { ScramClient } from '../../src/protocol/scram.js';
import { encodeBatch } from '../../src/record/encoder.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { runCli } from './security-cli.js';
import { groupConsumer, keys, waitFor } from './group-helpers.js';

const fetchHttp = globalThis.fetch;

const PASSWORD = 'acl-Pa55-word';
const USERS = ['admin', 'alice', 'carol', 'dave', 'eve', 'frank', 'wendy', 'gina', 'harry', 'ivy', 'kim', 'lena', 'mona', 'nina'] as const;
type User = (typeof USERS)[number];
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-acl-'));
let broker: BrokerHandle;
const sasl = (u: User) => ({ username: u, password: `${u}-${PASSWORD}` });
const code = (name: keyof typeof ERRORS) => ERRORS[name].code;

function acl(principal: string, resourceType: AclBinding['resourceType'], resourceName: string, operation: AclBinding['operation'], o: { prefixed?: boolean; deny?: boolean } = {}): AclBinding {
  return { principal, resourceType, resourceName, patternType: o.prefixed === true ? 'prefixed' : 'literal', operation, permission: o.deny === true ? 'deny' : 'allow' };
}

async function asAdmin<T>(fn: (a: Admin) => Promise<T>, user: User = 'admin'): Promise<T> {
  const a = new Admin({ url: broker.url, reconnectBackoffMs: 50, sasl: sasl(user) });
  try {
    await a.connect();
    return await fn(a);
  } finally {
    await a.close();
  }
}

/** A raw connection logged in as `user`: requests answer with the exact wire error. */
async function rawAs(user: User): Promise<RawClient> {
  const raw = await RawClient.connect(broker.url);
  const scram = new ScramClient(user, sasl(user).password);
  assert.equal((await raw.request({ api: Api.SaslHandshake, mechanism: 'SCRAM-SHA-256' })).error, undefined);
  const first = await raw.request({ api: Api.SaslAuthenticate, authBytes: scram.first() });
  const fin = await raw.request({ api: Api.SaslAuthenticate, authBytes: await scram.final(Buffer.from(first.authBytes as Uint8Array)) });
  assert.equal(fin.error, undefined, JSON.stringify(fin.error));
  return raw;
}

const batch = (value: string): Buffer => encodeBatch([{ value: Buffer.from(value) }]);
const produce = (raw: RawClient, topic: string) => raw.request({ api: Api.Produce, acks: 1, partitions: [{ topic, partition: 0, records: batch('x') }] });
const fetch = (raw: RawClient, topic: string) => raw.request({ api: Api.Fetch, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, partitions: [{ topic, partition: 0, offset: 0, maxBytes: 1 << 20 }] });
const endOffset = (topic: string) => asAdmin(async (a) => (await a.describeTopics([topic]))[0].partitions[0].highWatermark);

before(async () => {
  for (const u of USERS) {
    const made = await runCli(['user', 'add', u, '--password-stdin', '--data-dir', dataDir], { stdin: `${sasl(u).password}\n` });
    assert.equal(made.code, 0, made.stderr);
  }
  // The producer's right, granted before the broker starts.
  const granted = await runCli(['acl', 'add', '--user', 'alice', '--topic', 'orders', '--operation', 'write', '--data-dir', dataDir]);
  assert.equal(granted.code, 0, granted.stderr);
  // Offline, removing an ACL that is not there fails naming it, and the file stays as it was.
  const missing = await runCli(['acl', 'remove', '--user', 'alice', '--topic', 'orders', '--operation', 'read', '--data-dir', dataDir]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no such ACL in .*alice\tallow\tread\ttopic\tliteral\torders/);
  broker = await startBroker({ dataDir, args: ['--auth', 'scram', '--super-users', 'admin', '--auto-create-topics', 'false'] });
  await asAdmin(async (a) => {
    await a.createTopic('orders', 1);
    await a.createTopic('orders-eu', 1);
    await a.createTopic('jobs', 1);
  });
});
after(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a producer and a consumer group work with exactly their ACLs', async () => {
  const p = new Producer({ url: broker.url, sasl: sasl('alice') });
  await p.send('orders', [{ value: 'o1' }, { value: 'o2' }]);
  await p.close();
  await asAdmin((a) => a.createAcls([acl('carol', 'topic', 'orders', 'read'), acl('carol', 'group', 'billing', 'read')]));
  const c = new Consumer({ url: broker.url, sasl: sasl('carol'), groupId: 'billing', topics: ['orders'], autoOffsetReset: 'earliest', autoCommit: false });
  try {
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      c.run({ eachMessage: async (m) => { got.push(m.value!.toString()); if (got.length === 2) resolve(); } }).catch(reject);
    });
    assert.deepEqual(got, ['o1', 'o2']);
    // A message counts as handled once its handler returned: commit until the second one has.
    await waitFor('both messages committed', async () => {
      await c.commit();
      return (await asAdmin((a) => a.fetchOffsets('billing'))).some((o) => o.topic === 'orders' && o.offset === 2);
    });
  } finally {
    await c.close();
  }
});

test('refused with the right error, and nothing changed: produce without write, read without read, create without create', async () => {
  const eve = await rawAs('eve');
  try {
    const before = await endOffset('orders');
    assert.equal((await produce(eve, 'orders')).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    assert.equal(await endOffset('orders'), before);
    assert.equal((await fetch(eve, 'orders')).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    const lo = await eve.request({ api: Api.ListOffsets, partitions: [{ topic: 'orders', partition: 0, timestamp: -1 }] });
    assert.equal(lo.partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    const created = await eve.request({ api: Api.CreateTopics, topics: [{ name: 'eve-topic', partitions: 1 }] });
    assert.equal(created.topics[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    // The same answer for an existing topic: a refusal does not say whether it exists.
    const again = await eve.request({ api: Api.CreateTopics, topics: [{ name: 'orders', partitions: 1 }] });
    assert.equal(again.topics[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    const deleted = await eve.request({ api: Api.DeleteTopics, topics: ['orders'] });
    assert.equal(deleted.topics[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    const topics = await asAdmin((a) => a.listTopics());
    assert.deepEqual(topics.map((t) => t.name), ['jobs', 'orders', 'orders-eu']);
  } finally {
    eve.close();
  }
});

test('committing a group without rights is refused and commits nothing; with the group but not the topic too', async () => {
  const eve = await rawAs('eve');
  try {
    const commit = { api: Api.OffsetCommit, groupId: 'audit', partitions: [{ topic: 'orders', partition: 0, offset: 1 }] };
    assert.equal((await eve.request(commit)).error.code, code('GROUP_AUTHORIZATION_FAILED'));
    await asAdmin((a) => a.createAcls([acl('eve', 'group', 'audit', 'read')]));
    assert.equal((await eve.request(commit)).error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    const hb = await eve.request({ api: Api.ConsumerGroupHeartbeat, groupId: 'billing', memberId: '', memberEpoch: 0, subscribedTopics: ['orders'] });
    assert.equal(hb.error.code, code('GROUP_AUTHORIZATION_FAILED'));
    assert.deepEqual(await asAdmin((a) => a.fetchOffsets('audit')), []);
  } finally {
    eve.close();
  }
});

test('a topic the principal may not describe is answered exactly as a missing one, and left out of listings', async () => {
  const eve = await rawAs('eve');
  try {
    /** An answer about `name` with the name taken out, to compare two topics' answers. */
    const unnamed = (v: unknown, name: string): string => JSON.stringify(v).replaceAll(name, 'T');
    for (const api of [Api.Metadata, Api.DescribeTopics]) {
      const res = await eve.request({ api, topics: ['orders', 'no-such-topic'] });
      assert.equal(res.topics[0].error.code, code('UNKNOWN_TOPIC_OR_PARTITION'), `api ${api}`);
      assert.equal(unnamed(res.topics[0], 'orders'), unnamed(res.topics[1], 'no-such-topic'), `api ${api}`);
    }
    const all = await eve.request({ api: Api.Metadata });
    assert.deepEqual(all.topics, []);
  } finally {
    eve.close();
  }
});

test('internal topics are neither writable nor readable, even by a super user', async () => {
  const admin = await rawAs('admin');
  try {
    for (const t of ['__consumer_offsets', '__share_state-0']) {
      assert.equal((await produce(admin, t)).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'), t);
      assert.equal((await fetch(admin, t)).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'), t);
    }
    // The super user may do everything else, with no ACL at all.
    assert.equal((await produce(admin, 'orders-eu')).partitions[0].error, undefined);
  } finally {
    admin.close();
  }
});

test('an ACL added or removed applies to an open connection without a restart', async () => {
  const frank = await rawAs('frank');
  try {
    assert.equal((await fetch(frank, 'orders-eu')).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    const grant = acl('frank', 'topic', 'orders-eu', 'read');
    await asAdmin((a) => a.createAcls([grant]));
    assert.equal((await fetch(frank, 'orders-eu')).partitions[0].error, undefined);
    const listed = await runCli(['acl', 'list', '--user', 'frank', '--broker', broker.url, '--login-user', 'admin'], { env: { SLUICE_PASSWORD: sasl('admin').password } });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, 'frank\tallow\tread\ttopic\tliteral\torders-eu\n');
    const removed = await runCli(['acl', 'remove', '--user', 'frank', '--topic', 'orders-eu', '--operation', 'read', '--broker', broker.url, '--login-user', 'admin'], { env: { SLUICE_PASSWORD: sasl('admin').password } });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await fetch(frank, 'orders-eu')).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
  } finally {
    frank.close();
  }
});

test('deny wins over allow, and prefix rules match by name prefix (create included)', async () => {
  await asAdmin((a) => a.createAcls([
    acl('dave', 'topic', 'orders', 'all', { prefixed: true }),
    acl('dave', 'topic', 'orders', 'read', { deny: true }),
    acl('dave', 'topic', 'dave-', 'create', { prefixed: true }),
  ]));
  const dave = await rawAs('dave');
  try {
    assert.equal((await fetch(dave, 'orders')).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'), 'the deny on orders wins');
    assert.equal((await fetch(dave, 'orders-eu')).partitions[0].error, undefined, 'the prefix allows orders-eu');
    assert.equal((await fetch(dave, 'jobs')).partitions[0].error.code, code('TOPIC_AUTHORIZATION_FAILED'), 'jobs does not start with orders');
    const created = await dave.request({ api: Api.CreateTopics, topics: [{ name: 'dave-1', partitions: 1 }, { name: 'other-1', partitions: 1 }] });
    assert.equal(created.topics[0].error, undefined);
    assert.equal(created.topics[1].error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    // Cluster operations need the cluster: dave may not manage ACLs.
    const mine = await dave.request({ api: Api.CreateAcls, creations: [acl('dave', 'topic', 'jobs', 'read')] });
    assert.equal(mine.error.code, code('CLUSTER_AUTHORIZATION_FAILED'));
  } finally {
    dave.close();
  }
});

test('a queue worker acquires and acks with read on the topic and the share group, and is refused without the group', async () => {
  const p = new Producer({ url: broker.url, sasl: sasl('admin') });
  await p.send('jobs', [{ value: 'j1' }]);
  await p.close();
  const wendy = await rawAs('wendy');
  try {
    await asAdmin((a) => a.createAcls([acl('wendy', 'topic', 'jobs', 'read')]));
    const refused = await wendy.request({ api: Api.ShareAcquire, groupId: 'workers', workerId: 'w1', topics: ['jobs'], maxRecords: 1, maxWaitMs: 0 });
    assert.equal(refused.error.code, code('GROUP_AUTHORIZATION_FAILED'));
  } finally {
    wendy.close();
  }
  await asAdmin((a) => a.createAcls([acl('wendy', 'group', 'workers', 'read')]));
  const q = new QueueConsumer({ url: broker.url, sasl: sasl('wendy'), groupId: 'workers', topics: 'jobs', maxWaitMs: 200, settings: { startFrom: 'earliest' } });
  try {
    for await (const job of q) {
      assert.equal(job.value!.toString(), 'j1');
      await job.ack();
      break;
    }
  } finally {
    await q.close();
  }
});

test('a pattern subscription is assigned only the matching topics the member may read, and follows an ACL change', async () => {
  await asAdmin((a) => a.createAcls([acl('gina', 'topic', 'orders', 'read'), acl('gina', 'group', 'patterns', 'read')]));
  // Matches orders and orders-eu; gina may read only orders.
  const c = groupConsumer(broker.url, 'patterns', /orders.*/, { sasl: sasl('gina'), autoCommit: false });
  try {
    await c.connect();
    await waitFor('gina assigned orders', () => keys(c).length > 0, 30_000);
    // Without the check the pattern hands her orders-eu too (a topic she may not even describe).
    const description = await asAdmin((a) => a.describeGroup('patterns'));
    assert.deepEqual(description.members.map((m) => m.targetAssignment.map((t) => t.topic)), [['orders']]);
    assert.deepEqual(keys(c), ['orders/0']);
    const grant = acl('gina', 'topic', 'orders-eu', 'read');
    await asAdmin((a) => a.createAcls([grant]));
    await waitFor('orders-eu assigned after the grant', () => keys(c).includes('orders-eu/0'), 30_000);
    await asAdmin((a) => a.deleteAcls([grant]));
    await waitFor('orders-eu taken away after the removal', () => !keys(c).includes('orders-eu/0'), 30_000);
    assert.deepEqual(keys(c), ['orders/0']);
  } finally {
    await c.close();
  }
});

test('describing a group or fetching its offsets shows only the topics the principal may describe (offsets, lag, members)', async () => {
  const admin = await rawAs('admin');
  try {
    const committed = await admin.request({ api: Api.OffsetCommit, groupId: 'mixed', partitions: [{ topic: 'orders', partition: 0, offset: 1 }, { topic: 'orders-eu', partition: 0, offset: 1 }] });
    assert.deepEqual(committed.partitions.map((p: { error?: unknown }) => p.error), [undefined, undefined]);
  } finally {
    admin.close();
  }
  // A member (the admin's) that holds both topics.
  const member = groupConsumer(broker.url, 'mixed', ['orders', 'orders-eu'], { sasl: sasl('admin'), autoCommit: false });
  try {
    await member.connect();
    await waitFor('the admin member holds both topics', () => keys(member).length === 2, 30_000);
    await asAdmin((a) => a.createAcls([acl('harry', 'group', 'mixed', 'read'), acl('harry', 'topic', 'orders', 'read')]));
    const seen = await asAdmin((a) => a.describeGroup('mixed'), 'harry');
    assert.deepEqual(seen.offsets?.map((o) => o.topic), ['orders']);
    assert.equal(seen.members.length, 1);
    const m = seen.members[0]!;
    assert.deepEqual(m.subscribedTopics, ['orders']);
    assert.deepEqual([...m.assignment, ...m.targetAssignment].map((t) => t.topic), ['orders', 'orders']);
    assert.deepEqual((await asAdmin((a) => a.fetchOffsets('mixed'), 'harry')).map((o) => o.topic), ['orders']);
    const cli = await runCli(['group', 'describe', 'mixed', '--broker', broker.url, '--user', 'harry'], { env: { SLUICE_PASSWORD: sasl('harry').password } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /orders/);
    assert.doesNotMatch(cli.stdout, /orders-eu/);
    // The admin sees everything.
    const all = await asAdmin((a) => a.describeGroup('mixed'));
    assert.deepEqual(all.offsets?.map((o) => o.topic), ['orders', 'orders-eu']);
  } finally {
    await member.close();
  }
});

test('describing a share group shows only the partitions of topics the principal may describe', async () => {
  const admin = await rawAs('admin');
  const harry = await rawAs('harry');
  try {
    const acquired = await admin.request({ api: Api.ShareAcquire, groupId: 'sharemix', workerId: 'w1', topics: ['jobs', 'orders-eu'], maxRecords: 10, maxWaitMs: 0, settings: { startFrom: 'earliest' } });
    assert.equal(acquired.error, undefined, JSON.stringify(acquired.error));
    const topicsSeen = async (raw: RawClient): Promise<string[]> => {
      const res = await raw.request({ api: Api.ShareDescribe, groupIds: ['sharemix'] });
      assert.equal(res.groups[0].error, undefined, JSON.stringify(res.groups[0].error));
      return [...new Set((res.groups[0].partitions as { topic: string }[]).map((p) => p.topic))].sort();
    };
    await waitFor('the share group covers both topics', async () => (await topicsSeen(admin)).length === 2, 30_000);
    await asAdmin((a) => a.createAcls([acl('harry', 'group', 'sharemix', 'describe'), acl('harry', 'topic', 'jobs', 'describe')]));
    assert.deepEqual(await topicsSeen(harry), ['jobs']);
  } finally {
    admin.close();
    harry.close();
  }
});

test('a subscription listing several topics is refused whole when one of them is not readable, and joins nothing', async () => {
  // gina: read on group patterns and topic orders only (the previous test's grant on orders-eu was removed).
  const gina = await rawAs('gina');
  try {
    const hb = await gina.request({ api: Api.ConsumerGroupHeartbeat, groupId: 'patterns', memberId: '', memberEpoch: 0, subscribedTopics: ['orders', 'orders-eu'] });
    assert.equal(hb.error.code, code('TOPIC_AUTHORIZATION_FAILED'));
    assert.deepEqual((await asAdmin((a) => a.describeGroup('patterns'))).members, []);
    const ok = await gina.request({ api: Api.ConsumerGroupHeartbeat, groupId: 'patterns', memberId: '', memberEpoch: 0, subscribedTopics: ['orders'] });
    assert.equal(ok.error, undefined, JSON.stringify(ok.error));
    await gina.request({ api: Api.ConsumerGroupHeartbeat, groupId: 'patterns', memberId: ok.memberId, memberEpoch: -1 });
  } finally {
    gina.close();
  }
});

test('ShareAck is refused without read on the share group, then without read on the topic, and settles nothing; with both it acks the held job', async () => {
  await asAdmin(async (a) => { await a.createTopic('acks', 1); });
  const p = new Producer({ url: broker.url, sasl: sasl('admin') });
  await p.send('acks', [{ value: 'a1' }]);
  await p.close();
  const onTopic = acl('ivy', 'topic', 'acks', 'read');
  const onGroup = acl('ivy', 'group', 'ackers', 'read');
  await asAdmin((a) => a.createAcls([onTopic, onGroup]));
  const ivy = await rawAs('ivy');
  try {
    // A lock far longer than the test: a refused ack must leave the job held, not expire it.
    const got = await ivy.request({ api: Api.ShareAcquire, groupId: 'ackers', workerId: 'w1', topics: ['acks'], maxRecords: 1, maxWaitMs: 10_000, settings: { startFrom: 'earliest', visibilityTimeoutMs: 600_000 } });
    assert.equal(got.error, undefined, JSON.stringify(got.error));
    assert.deepEqual(got.partitions.flatMap((x: { acquired: { firstOffset: number }[] }) => x.acquired.map((r) => r.firstOffset)), [0]);
    const ack = () => ivy.request({ api: Api.ShareAck, groupId: 'ackers', workerId: 'w1', entries: [{ topic: 'acks', partition: 0, offsets: [0], type: 'ack' }] });
    const held = async () => {
      const qa = new QueueAdmin({ url: broker.url, sasl: sasl('admin') });
      try {
        const g = await qa.describeGroup('ackers', { jobs: 10 });
        return { held: g.jobs?.map((j) => j.offset) ?? [], acked: g.acked };
      } finally {
        await qa.close();
      }
    };
    await asAdmin((a) => a.deleteAcls([onGroup]));
    assert.equal((await ack()).error?.code, code('GROUP_AUTHORIZATION_FAILED'));
    assert.deepEqual(await held(), { held: [0], acked: 0 }, 'the job is still held after the refused ack');
    await asAdmin(async (a) => { await a.createAcls([onGroup]); await a.deleteAcls([onTopic]); });
    assert.equal((await ack()).error?.code, code('TOPIC_AUTHORIZATION_FAILED'));
    assert.deepEqual(await held(), { held: [0], acked: 0 }, 'the job is still held after the refused ack');
    await asAdmin((a) => a.createAcls([onTopic]));
    // Allowed now, and it settles the job: proof the refused ones had not.
    const done = await ack();
    assert.equal(done.error, undefined, JSON.stringify(done.error));
    assert.equal(done.results[0].error, undefined, JSON.stringify(done.results[0].error));
    assert.deepEqual(await held(), { held: [], acked: 1 });
  } finally {
    ivy.close();
  }
});

test('CreatePartitions is refused without alter on the topic (the same answer for a missing topic) and adds none; alter on the topic alone allows it', async () => {
  await asAdmin(async (a) => { await a.createTopic('grow', 1); });
  const partitions = async () => (await asAdmin((a) => a.describeTopics(['grow'])))[0].partitions.length;
  // kim may do everything to the topic but alter it.
  await asAdmin((a) => a.createAcls(['read', 'write', 'describe', 'create', 'delete'].map((op) => acl('kim', 'topic', 'grow', op as AclBinding['operation']))));
  const kim = await rawAs('kim');
  try {
    const refused = await kim.request({ api: Api.CreatePartitions, topics: [{ name: 'grow', totalPartitions: 3 }, { name: 'no-such-topic', totalPartitions: 3 }] });
    assert.deepEqual(refused.topics.map((t: { error?: { code: number } }) => t.error?.code), [code('TOPIC_AUTHORIZATION_FAILED'), code('TOPIC_AUTHORIZATION_FAILED')]);
    assert.equal(await partitions(), 1);
    await asAdmin((a) => a.createAcls([acl('kim', 'topic', 'grow', 'alter')]));
    const grown = await kim.request({ api: Api.CreatePartitions, topics: [{ name: 'grow', totalPartitions: 3 }] });
    assert.equal(grown.topics[0].error, undefined, JSON.stringify(grown.topics[0].error));
    assert.equal(await partitions(), 3);
  } finally {
    kim.close();
  }
});

test('a group member whose read on its subscribed topic is revoked gets TOPIC_AUTHORIZATION_FAILED from run() and is handed nothing produced after the revocation', async () => {
  await asAdmin(async (a) => { await a.createTopic('revoked', 1); });
  const onTopic = acl('lena', 'topic', 'revoked', 'read');
  await asAdmin((a) => a.createAcls([onTopic, acl('lena', 'group', 'revokers', 'read')]));
  const p = new Producer({ url: broker.url, sasl: sasl('admin') });
  await p.send('revoked', [{ value: 'before' }]);
  // A long poll far longer than the test: the member's next fetch is parked at the broker when
  // the read is taken away, and the record produced then must not be answered to it.
  const c = new Consumer({ url: broker.url, sasl: sasl('lena'), groupId: 'revokers', topics: ['revoked'], autoOffsetReset: 'earliest', autoCommit: false, maxWaitMs: 60_000 });
  const got: string[] = [];
  let firstSeen!: () => void;
  const first = new Promise<void>((resolve) => { firstSeen = resolve; });
  const ran = c.run({ eachMessage: (m) => { got.push(m.value!.toString()); firstSeen(); } });
  ran.catch(() => {}); // asserted below
  try {
    await first;
    await asAdmin((a) => a.deleteAcls([onTopic]));
    await p.send('revoked', [{ value: 'after' }]);
    await assert.rejects(ran, (e: unknown) => e instanceof SluiceError && e.code === 'TOPIC_AUTHORIZATION_FAILED' && !e.retriable && /revoked\/0/.test(e.message));
    assert.deepEqual(got, ['before']);
    // It stays failed: a second run() does not read on (the application closes the consumer).
    await assert.rejects(c.run({ eachMessage: (m) => { got.push(m.value!.toString()); } }), (e: unknown) => e instanceof SluiceError && e.code === 'TOPIC_AUTHORIZATION_FAILED');
    assert.deepEqual(got, ['before']);
  } finally {
    await p.close();
    await c.close();
  }
});

/**
 * Two members of one group, mona and nina, each holding one of two partitions; mona loses a
 * right (`revoke`). Her member must leave the group so nina gets both partitions, long before
 * mona's session timeout (120 s, asked by the member: without the fence she heartbeats on, or
 * her refused heartbeats keep her until then); mona's run() rejects with `code`, not
 * retriable, and she holds nothing.
 */
async function revokedMemberIsFenced(topic: string, group: string, revoke: AclBinding, code: 'TOPIC_AUTHORIZATION_FAILED' | 'GROUP_AUTHORIZATION_FAILED'): Promise<void> {
  await asAdmin(async (a) => { await a.createTopic(topic, 2); });
  await asAdmin((a) => a.createAcls(['mona', 'nina'].flatMap((u) => [acl(u, 'topic', topic, 'read'), acl(u, 'group', group, 'read')])));
  const mona = groupConsumer(broker.url, group, [topic], { sasl: sasl('mona'), autoCommit: false, sessionTimeoutMs: 120_000 });
  const nina = groupConsumer(broker.url, group, [topic], { sasl: sasl('nina'), autoCommit: false, sessionTimeoutMs: 120_000 });
  const ran = mona.run({ eachMessage: () => {} });
  ran.catch(() => {}); // asserted below
  try {
    await waitFor('mona holds both partitions', () => keys(mona).length === 2, 30_000);
    await nina.connect();
    await waitFor('one partition each', () => keys(mona).length === 1 && keys(nina).length === 1, 30_000);
    await asAdmin((a) => a.deleteAcls([revoke]));
    await waitFor('nina holds both partitions', () => keys(nina).length === 2, 60_000);
    const members = (await asAdmin((a) => a.describeGroup(group))).members;
    assert.deepEqual(members.map((m) => m.memberId), [nina.groupMember()!.memberId]);
    await assert.rejects(ran, (e: unknown) => e instanceof SluiceError && e.code === code && !e.retriable);
    await waitFor('mona holds nothing', () => keys(mona).length === 0, 30_000);
  } finally {
    await mona.close();
    await nina.close();
  }
}

test('a member whose read on its subscribed topic is revoked is fenced: its partitions move to a member that may read them, and it gets TOPIC_AUTHORIZATION_FAILED', async () => {
  await revokedMemberIsFenced('fenced-topic', 'fencers-topic', acl('mona', 'topic', 'fenced-topic', 'read'), 'TOPIC_AUTHORIZATION_FAILED');
});

test('a member whose read on its group is revoked is fenced: its partitions move to a member that may read them, and it gets GROUP_AUTHORIZATION_FAILED', async () => {
  await revokedMemberIsFenced('fenced-group', 'fencers-group', acl('mona', 'group', 'fencers-group', 'read'), 'GROUP_AUTHORIZATION_FAILED');
});

test('no user\'s password appears in the broker\'s log or its /metrics', async () => {
  const metrics = await (await fetchHttp(`${broker.httpUrl}/metrics`)).text();
  const logs = broker.logs();
  for (const u of USERS) {
    const { password } = sasl(u);
    assert.ok(!logs.includes(password), `${u}'s password in the log`);
    assert.ok(!metrics.includes(password), `${u}'s password in /metrics`);
  }
});
