// Group coordinators in a cluster (docs/cluster.md, "Coordinators"): etcd + three broker
// processes. FindCoordinator agrees on every broker, a group request elsewhere gets
// NOT_COORDINATOR, and a consumer group of three survives the SIGKILL of the broker that
// coordinates it: it resumes on the new coordinator, no committed offset goes backwards,
// every message is consumed at least once, and (membership being persisted) every member keeps
// its id and partition with nothing delivered twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/consumer.js';
import { Producer } from '../../src/client/producer.js';
import { SluiceError } from '../../src/errors.js';
import { Api } from '../../src/protocol/api.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { Admin } from '../../src/client/admin.js';
import { runCli } from '../integration/cli-process.js';
import { findCoordinator } from './fault-helpers.js';

const env = brokerClusterForFile({ brokers: 3 });

test('FindCoordinator names the same broker from every broker; group requests elsewhere get NOT_COORDINATOR', { skip: etcdTool.skip }, async () => {
  const cluster = env.cluster;
  const answers = [];
  for (const b of cluster.brokers) answers.push(await findCoordinator(cluster, b.nodeId, 'g-find'));
  const coordinator = answers[0]!.nodeId;
  for (const a of answers) assert.deepEqual({ nodeId: a.nodeId, url: a.url }, { nodeId: coordinator, url: cluster.broker(coordinator).url });
  // The coordinator loads its partition once it leads it: retried while COORDINATOR_LOAD_IN_PROGRESS.
  await until(async () => {
    try {
      const res = await cluster.request(coordinator, Api.OffsetCommit, { groupId: 'g-find', partitions: [{ topic: 't', partition: 0, offset: 7 }] });
      return res.partitions[0]!.error === undefined ? true : undefined;
    } catch (err) {
      if (err instanceof SluiceError && err.code === 'COORDINATOR_LOAD_IN_PROGRESS') return undefined;
      throw err;
    }
  }, 30_000, 'a commit accepted by the coordinator');
  const fetched = await cluster.request(coordinator, Api.OffsetFetch, { groupId: 'g-find', partitions: [{ topic: 't', partition: 0 }] });
  assert.equal(fetched.partitions[0]!.offset, 7);
  const other = cluster.brokers.find((b) => b.nodeId !== coordinator)!.nodeId;
  // Admin and the CLI, given another broker, find the coordinator and name it.
  const admin = new Admin({ brokers: [cluster.broker(other).url] });
  try {
    const d = await admin.describeGroup('g-find');
    assert.equal(d.coordinator, coordinator);
    assert.deepEqual(d.offsets!.map((o) => [o.topic, o.partition, o.offset]), [['t', 0, 7]]);
  } finally {
    await admin.close();
  }
  const cli = await runCli(cluster.broker(other).url, ['group', 'describe', 'g-find']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^COORDINATOR\\s+broker ${coordinator}$`, 'm'));
  await assert.rejects(cluster.request(other, Api.OffsetFetch, { groupId: 'g-find' }), (err: SluiceError) => err.code === 'NOT_COORDINATOR');
  await assert.rejects(cluster.request(other, Api.OffsetCommit, { groupId: 'g-find', partitions: [{ topic: 't', partition: 0, offset: 9 }] }),
    (err: SluiceError) => err.code === 'NOT_COORDINATOR');
  await assert.rejects(cluster.request(other, Api.ConsumerGroupHeartbeat, { groupId: 'g-find', memberId: 'm', memberEpoch: 0, subscribedTopics: ['t'] }),
    (err: SluiceError) => err.code === 'NOT_COORDINATOR');
});

test('ListGroups across brokers: Admin and the CLI given one broker list every group of the cluster; each group is reported coordinated by its coordinator alone', { skip: etcdTool.skip }, async () => {
  const cluster = env.cluster;
  const ids = Array.from({ length: 8 }, (_, i) => `g-list-${i}`);
  const coordinatorOf = new Map<string, number>();
  for (const id of ids) {
    const c = (await findCoordinator(cluster, 1, id)).nodeId;
    coordinatorOf.set(id, c);
    await until(async () => {
      try {
        const res = await cluster.request(c, Api.OffsetCommit, { groupId: id, partitions: [{ topic: 't', partition: 0, offset: 1 }] });
        return res.partitions[0]!.error === undefined ? true : undefined;
      } catch (err) {
        if (err instanceof SluiceError && err.retriable) return undefined;
        throw err;
      }
    }, 30_000, `a commit of ${id} accepted`);
  }
  assert.ok(new Set(coordinatorOf.values()).size >= 2, `the groups span several coordinators (${[...coordinatorOf].join(' ')})`);
  for (const b of cluster.brokers) {
    const admin = new Admin({ brokers: [b.url] });
    try {
      const listed = (await admin.listGroups()).map((g) => g.groupId).filter((id) => id.startsWith('g-list-'));
      assert.deepEqual(listed, ids, `Admin.listGroups through broker ${b.nodeId}`);
    } finally {
      await admin.close();
    }
  }
  const cli = await runCli(cluster.broker(1).url, ['group', 'list']);
  assert.equal(cli.code, 0, cli.stderr);
  for (const id of ids) assert.match(cli.stdout, new RegExp(`^${id}\\s`, 'm'), `sluice group list shows ${id}`);
  // sluice_group_coordinated{group} is 1 on the coordinator and absent elsewhere.
  for (const id of ids) {
    const on = [];
    for (const b of cluster.brokers) {
      const text = await (await fetch(`${b.httpUrl}/metrics`)).text();
      if (text.includes(`sluice_group_coordinated{group="${id}"} 1`)) on.push(b.nodeId);
    }
    assert.deepEqual(on, [coordinatorOf.get(id)], `brokers reporting ${id} coordinated`);
  }
});

test('a group of three resumes on a new coordinator after its coordinator is SIGKILLed: offsets never go back, nothing skipped', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'g-failover';
  const topic = 'work';
  const PER_BATCH = 300;
  const created = await cluster.request(1, Api.CreateTopics, { topics: [{ name: topic, partitions: 3, replicationFactor: 3 }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  const bootstrap = cluster.brokers.map((b) => b.url);
  const producer = new Producer({ brokers: bootstrap, acks: 'all', lingerMs: 5 });
  t.after(() => producer.close());
  const produce = async (from: number) => {
    const sends = [];
    for (let i = from; i < from + PER_BATCH; i++) sends.push(producer.send(topic, { value: `m${i}`, partition: i % 3 }));
    await Promise.all(sends);
  };
  await produce(0);

  const seen = new Map<string, number>();
  // Every assignment change a consumer sees, with when it happened.
  const moves: { consumer: number; what: 'assigned' | 'revoked'; at: number }[] = [];
  const consumers = [0, 1, 2].map((i) => new Consumer({
    brokers: bootstrap, groupId: group, topics: topic, autoCommitIntervalMs: 200, maxWaitMs: 200,
    onPartitionsAssigned: () => { moves.push({ consumer: i, what: 'assigned', at: Date.now() }); },
    onPartitionsRevoked: () => { moves.push({ consumer: i, what: 'revoked', at: Date.now() }); },
  }));
  t.after(() => Promise.all(consumers.map((c) => c.close().catch(() => {}))));
  for (const c of consumers) {
    await c.connect();
    void c.run({ eachMessage: (m) => { const v = m.value!.toString(); seen.set(v, (seen.get(v) ?? 0) + 1); } });
  }

  // Committed offsets as the coordinator of the moment answers them (the test's own FindCoordinator).
  const committed = new Map<number, number>();
  const backwards: string[] = [];
  let stopWatch = false;
  const readCommitted = async (): Promise<number | undefined> => {
    const live = cluster.brokers.find((b) => b.running)!.nodeId;
    const res = await cluster.request(live, Api.FindCoordinator, { key: group }).catch(() => undefined);
    if (!res || res.nodeId < 0 || !cluster.broker(res.nodeId).running) return undefined;
    const off = await cluster.request(res.nodeId, Api.OffsetFetch, { groupId: group, partitions: [0, 1, 2].map((p) => ({ topic, partition: p })) }).catch(() => undefined);
    if (!off) return undefined;
    for (const p of off.partitions) {
      const before = committed.get(p.partition) ?? -1;
      if (p.offset < before) backwards.push(`partition ${p.partition}: ${before} -> ${p.offset} at broker ${res.nodeId}`);
      committed.set(p.partition, Math.max(before, p.offset));
    }
    return res.nodeId;
  };
  const watcher = (async () => { while (!stopWatch) { await readCommitted(); await new Promise((r) => setTimeout(r, 100)); } })();
  t.after(() => { stopWatch = true; return watcher; });

  const perPartition = PER_BATCH / 3;
  await until(async () => ([0, 1, 2].every((p) => (committed.get(p) ?? -1) >= perPartition) ? true : undefined), 90_000,
    `the group committing offset ${perPartition} on every partition`);
  const old = (await findCoordinator(cluster, 1, group)).nodeId;
  // Settled: one partition each (the group may still be reconciling right after its first commits).
  await until(async () => (consumers.every((c) => c.assignment().length === 1) ? true : undefined), 60_000, 'one partition per consumer');
  const membersBefore = consumers.map((c) => c.groupMember()!.memberId);
  const assignmentsBefore = consumers.map((c) => JSON.stringify(c.assignment()));

  const killedAt = Date.now();
  await cluster.broker(old).kill();
  await produce(PER_BATCH);
  // The first commit the new coordinator accepted shows as an offset past the first batch, read from it.
  let resumedAt = 0;
  let now = -1;
  await until(async () => {
    now = (await readCommitted()) ?? -1;
    if (now > 0 && now !== old && !resumedAt && [0, 1, 2].some((p) => (committed.get(p) ?? -1) > perPartition)) resumedAt = Date.now();
    return now > 0 && now !== old && [0, 1, 2].every((p) => (committed.get(p) ?? -1) >= 2 * perPartition) ? true : undefined;
  }, 120_000, 'the group committing every message of the second batch at the new coordinator');
  console.log(`coordinator ${old} SIGKILLed; group resumed on coordinator ${now}: first commit past the kill seen ${resumedAt - killedAt} ms after the kill`);
  stopWatch = true;
  await watcher;

  assert.deepEqual(backwards, [], 'no committed offset went backwards');
  const missing = [];
  for (let i = 0; i < 2 * PER_BATCH; i++) if (!seen.has(`m${i}`)) missing.push(i);
  assert.deepEqual(missing, [], 'every message consumed at least once');
  // Membership is persisted (KIP-848): the new coordinator knows every member at its epoch, so
  // nobody is fenced, gives its partition up or reads it again from the committed offset.
  assert.deepEqual(moves.filter((m) => m.at >= killedAt), [], 'no partition assigned or revoked after the kill');
  assert.deepEqual(consumers.map((c) => c.groupMember()!.memberId), membersBefore, 'every member kept its member id');
  assert.deepEqual(consumers.map((c) => JSON.stringify(c.assignment())), assignmentsBefore, 'every member kept its partition');
  const twice = [...seen].filter(([, n]) => n > 1).length;
  console.log(`messages delivered more than once: ${twice}`);
  assert.equal(twice, 0, 'no message delivered twice: no partition went back to a committed offset');
  assert.notEqual(now, old);
});
