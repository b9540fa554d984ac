// Topic changes through the controller, against a real etcd: one fenced transaction writes a
// topic with all its partitions, names are unique, a deposed controller creates nothing,
// deletion removes every key, and a re-created topic is a different topic (new topic id).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ControllerElection } from '../../src/cluster/controller-election.js';
import { ControllerFencedError } from '../../src/cluster/errors.js';
import { EtcdSession } from '../../src/cluster/etcd-session.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { InvalidReplicationFactorError } from '../../src/cluster/placement.js';
import { readAllPartitionStates } from '../../src/cluster/partition-state-store.js';
import { TopicAdmin } from '../../src/cluster/topic-admin.js';
import { InvalidPartitionsError, TopicExistsError, UnknownTopicError } from '../../src/storage/errors.js';
import { parseTopicRecord } from '../../src/cluster/cluster-view.js';
import { toTopicInfo } from '../../src/cluster/etcd-metadata-store.js';
import { etcdForFile, etcdTool } from './etcd-process.js';

const env = etcdForFile();

async function controller(cluster: string, t: { after(fn: () => Promise<void>): void }, live = [1, 2, 3]) {
  const keys = new ClusterKeys(cluster);
  const session = await EtcdSession.open(env.client, { ttlMs: 5000 });
  t.after(() => session.close());
  const election = new ControllerElection(env.client, keys, session, 1);
  await election.campaign();
  return { keys, session, election, admin: new TopicAdmin(env.client, keys, election, () => live) };
}

test('a topic is created with every partition placed, in one transaction; its name is then taken', { skip: etcdTool.skip }, async (t) => {
  const { keys, admin } = await controller('create', t);
  const before = Date.now();
  const rec = await admin.createTopic({ name: 'orders', partitions: 6 });
  // The creation time is in the stored record, so every broker's view (and TopicInfo.createdAt) has it.
  const stored = parseTopicRecord((await env.client.get(keys.topic('orders')).string())!);
  assert.ok(stored.createdAt !== undefined && stored.createdAt >= before && stored.createdAt <= Date.now(), `createdAt ${stored.createdAt} stored at creation`);
  assert.equal(toTopicInfo('orders', stored).createdAt, stored.createdAt);
  assert.equal(rec.replicationFactor, 3, 'default min(3, live brokers)');
  assert.equal(rec.config.minInsyncReplicas, 2);
  const { states } = await readAllPartitionStates(env.client, keys);
  assert.equal(states.length, 6);
  for (const s of states) {
    assert.equal(s.state.replicas.length, 3);
    assert.equal(s.state.leader, s.state.replicas[0]);
    assert.deepEqual(s.state.isr, s.state.replicas);
    assert.equal(s.state.leaderEpoch, 0);
  }
  await assert.rejects(admin.createTopic({ name: 'orders', partitions: 1 }), TopicExistsError);
  await assert.rejects(admin.createTopic({ name: 'big', partitions: 1, replicationFactor: 4 }), InvalidReplicationFactorError);
  assert.equal(await env.client.get(keys.topic('big')).string(), null, 'nothing written for a refused topic');
});

test('a deposed controller creates nothing', { skip: etcdTool.skip }, async (t) => {
  const { keys, session, admin } = await controller('deposed', t);
  await env.client.delete().key(keys.controllerCandidate(session.leaseId));
  await assert.rejects(admin.createTopic({ name: 'x', partitions: 1 }), ControllerFencedError);
  assert.equal(await env.client.get(keys.topic('x')).string(), null);
});

test('deleting removes the topic and its partitions; re-creating gives a new topic id; partitions only grow', { skip: etcdTool.skip }, async (t) => {
  const { keys, admin } = await controller('lifecycle', t, [1, 2]);
  const first = await admin.createTopic({ name: 'jobs', partitions: 2 });
  assert.equal(first.replicationFactor, 2);
  assert.equal(first.config.minInsyncReplicas, 1);
  const grown = await admin.addPartitions('jobs', 5);
  assert.equal(grown.partitions, 5);
  assert.equal(grown.topicId, first.topicId);
  const states = (await readAllPartitionStates(env.client, keys)).states.filter((s) => s.topic === 'jobs');
  assert.deepEqual(states.map((s) => s.partition).sort(), [0, 1, 2, 3, 4]);
  await assert.rejects(admin.addPartitions('jobs', 5), InvalidPartitionsError);

  const deleted = await admin.deleteTopic('jobs');
  assert.equal(deleted.partitions, 5);
  assert.equal((await readAllPartitionStates(env.client, keys)).states.length, 0);
  await assert.rejects(admin.deleteTopic('jobs'), UnknownTopicError);
  const again = await admin.createTopic({ name: 'jobs', partitions: 1 });
  assert.notEqual(again.topicId, first.topicId, 'a re-created topic is told apart from the deleted one');
});

test('a topic larger than one etcd transaction is written in chunks; a successor completes a half-written one', { skip: etcdTool.skip }, async (t) => {
  const { keys, admin } = await controller('chunks', t);
  await admin.createTopic({ name: 'wide', partitions: 250 });
  let states = (await readAllPartitionStates(env.client, keys)).states;
  assert.equal(states.length, 250, 'more partitions than etcd allows operations in one transaction');
  await admin.addPartitions('wide', 420);
  states = (await readAllPartitionStates(env.client, keys)).states;
  assert.deepEqual(states.map((s) => s.partition).sort((a, b) => a - b), Array.from({ length: 420 }, (_, i) => i));

  // What a controller that died after the first chunk leaves behind: a record promising 5, 2 states.
  await env.client.put(keys.topic('half')).value(JSON.stringify({ topicId: 'x', partitions: 5, replicationFactor: 2, config: {} }));
  for (const p of [0, 1]) await env.client.put(keys.partition('half', p)).value(JSON.stringify({ replicas: [1, 2], leader: 1, leaderEpoch: 0, isr: [1, 2] }));
  assert.equal(await admin.completeTopics(), 3);
  states = (await readAllPartitionStates(env.client, keys)).states.filter((s) => s.topic === 'half');
  assert.deepEqual(states.map((s) => s.partition).sort(), [0, 1, 2, 3, 4]);
  for (const s of states) assert.equal(s.state.replicas.length, 2);
  assert.equal(await admin.completeTopics(), 0, 'nothing left to complete');
});

test('a topic record from before createdAt was kept still reads (createdAt unknown: 0); a malformed one is refused naming the field', () => {
  const old = parseTopicRecord(JSON.stringify({ topicId: 'a', partitions: 1, replicationFactor: 1, config: {} }));
  assert.equal(old.createdAt, undefined);
  assert.equal(toTopicInfo('t', old).createdAt, 0);
  assert.throws(() => parseTopicRecord(JSON.stringify({ topicId: 'a', partitions: 1, replicationFactor: 1, createdAt: 'yesterday' })), /createdAt/);
});
