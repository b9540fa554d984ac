// `sluice cluster drain` and `sluice cluster rebalance` against a real etcd and four broker
// processes (issue 14): drain empties a broker of every replica, the coordinator partitions of
// `__consumer_offsets` included (no replica left in etcd, its logs deleted), and a group it
// coordinated keeps its offsets and keeps working at the new coordinator; rebalance after a
// broker joins gives it replicas, then leaders go to the preferred replicas. Both are
// reassignments (test/cluster/reassign.test.ts tries to break those).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Api } from '../../src/protocol/api.js';
import { SluiceError } from '../../src/errors.js';
import { GROUP_COORDINATOR_TOPIC } from '../../src/topic-name.js';
import { findCoordinator } from './fault-helpers.js';
import { runCli } from '../integration/cli-process.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const env = brokerClusterForFile({ brokers: 4 });
const cluster = (): BrokerCluster => env.cluster;
const TOPIC = 'spread';
const WAIT_MS = 90_000;

async function replicasPerBroker(topics = [TOPIC]): Promise<Map<number, number>> {
  const md = await cluster().metadata(1, topics);
  const c = new Map<number, number>([[1, 0], [2, 0], [3, 0], [4, 0]]);
  for (const t of md.topics) for (const p of t.partitionInfo ?? []) for (const b of p.replicas) c.set(b, c.get(b)! + 1);
  return c;
}

/** Replicas of `__consumer_offsets` per broker, and which partitions broker `nodeId` holds. */
async function coordinatorReplicas(nodeId: number): Promise<number[]> {
  const md = await cluster().metadata(1, [GROUP_COORDINATOR_TOPIC]);
  const t = md.topics[0]!;
  assert.equal(t.error, undefined, JSON.stringify(t.error));
  assert.ok(t.partitionInfo !== undefined && t.partitionInfo.length > 0, 'Metadata answers the placement of __consumer_offsets');
  return t.partitionInfo.filter((p) => p.replicas.includes(nodeId)).map((p) => p.partition);
}

/** OffsetCommit at the group's coordinator, retried while it moves or loads (retriable errors). */
async function commit(group: string, offset: number): Promise<number> {
  return until(async () => {
    const c = (await findCoordinator(cluster(), 1, group)).nodeId;
    try {
      const res = await cluster().request(c, Api.OffsetCommit, { groupId: group, partitions: [{ topic: TOPIC, partition: 0, offset }] });
      return res.partitions[0]!.error === undefined ? c : undefined;
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) return undefined;
      throw err;
    }
  }, 60_000, `a commit of ${group} accepted`);
}

async function committed(group: string): Promise<number | undefined> {
  return until(async () => {
    const c = (await findCoordinator(cluster(), 1, group)).nodeId;
    try {
      const res = await cluster().request(c, Api.OffsetFetch, { groupId: group, partitions: [{ topic: TOPIC, partition: 0 }] });
      return { offset: res.partitions[0]!.offset };
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) return undefined;
      throw err;
    }
  }, 60_000, `the committed offset of ${group}`).then((r) => r.offset);
}

test('drain moves every replica off a broker and it deletes its logs; rebalance gives it replicas again', { skip: etcdTool.skip, timeout: 400_000 }, async () => {
  const res = await cluster().request(1, Api.CreateTopics, { topics: [{ name: TOPIC, partitions: 4, replicationFactor: 2 }] });
  assert.equal(res.topics[0]!.error, undefined);
  await until(async () => {
    const md = await cluster().metadata(1, [TOPIC]);
    return md.topics[0]?.partitionInfo?.every((p) => p.leader >= 0 && p.isr.length === 2) ? true : undefined;
  }, 30_000, 'every partition led with 2 in sync');
  const before = await replicasPerBroker();
  assert.ok(before.get(4)! > 0, `broker 4 holds replicas before the drain (${JSON.stringify([...before])})`);
  // A group coordinated by broker 4 (a partition of __consumer_offsets it leads), with a commit.
  let group: string | undefined;
  for (let i = 0; group === undefined && i < 200; i++) if ((await findCoordinator(cluster(), 1, `g-drain-${i}`)).nodeId === 4) group = `g-drain-${i}`;
  assert.ok(group !== undefined, 'some group hashes to a partition broker 4 leads');
  assert.equal(await commit(group, 5), 4);
  const held = await coordinatorReplicas(4);
  assert.ok(held.length > 0, 'broker 4 holds coordinator partitions before the drain');

  const drained = await runCli(cluster().broker(1).url, ['cluster', 'drain', '4', '--wait', '--timeout-ms', String(WAIT_MS)]);
  assert.equal(drained.code, 0, drained.stderr);
  assert.match(drained.stderr, /reassigning spread-\d: [\d,]+ -> [\d,]+/);
  assert.match(drained.stderr, /done: \d+ partition\(s\) moved/);
  const after = await replicasPerBroker();
  assert.equal(after.get(4), 0, `no replica left on broker 4 (${JSON.stringify([...after])})`);
  assert.match(drained.stderr, new RegExp(`reassigning ${GROUP_COORDINATOR_TOPIC}-\\d+: `), 'the coordinator partitions move too');
  assert.deepEqual(await coordinatorReplicas(4), [], 'no replica of __consumer_offsets left on broker 4');
  const dirs = [...[0, 1, 2, 3].map((p) => `${TOPIC}-${p}`), ...held.map((p) => `${GROUP_COORDINATOR_TOPIC}-${p}`)];
  await until(() => Promise.resolve(dirs.some((d) => existsSync(join(cluster().broker(4).dataDir, d))) ? undefined : true), 30_000, `broker 4 deleted its logs (${dirs.join(', ')})`);
  // The group moved with its partition: its offset is there, and it takes commits at the new coordinator.
  assert.equal(await committed(group), 5, 'the committed offset survived the move');
  const now = await commit(group, 9);
  assert.notEqual(now, 4, 'another broker coordinates the group');
  assert.equal(await committed(group), 9);

  const balanced = await runCli(cluster().broker(2).url, ['cluster', 'rebalance', '--wait', '--timeout-ms', String(WAIT_MS)]);
  assert.equal(balanced.code, 0, balanced.stderr);
  const end = await replicasPerBroker();
  // Over every placed partition (the 12 of __consumer_offsets with RF 3 too): within one of each other.
  const all = await replicasPerBroker([TOPIC, GROUP_COORDINATOR_TOPIC]);
  const total = [...all.values()].reduce((a, b) => a + b, 0);
  assert.ok(Math.max(...all.values()) - Math.min(...all.values()) <= 1, `replicas even over the brokers (${JSON.stringify([...all])})`);
  assert.ok(all.get(4)! >= Math.floor(total / 4), `broker 4 gets its share of ${total} (${JSON.stringify([...all])})`);
  assert.ok(end.get(4)! > 0, `broker 4 holds replicas of ${TOPIC} again (${JSON.stringify([...end])})`);
  // Then leaders: every partition is led by its preferred (first) replica.
  await until(async () => {
    const md = await cluster().metadata(1, [TOPIC, GROUP_COORDINATOR_TOPIC]);
    return md.topics.every((t) => t.partitionInfo?.every((p) => p.leader === p.replicas[0])) ? true : undefined;
  }, 30_000, 'every partition led by its first replica after rebalance');
  const again = await runCli(cluster().broker(2).url, ['cluster', 'rebalance']);
  assert.match(again.stderr, /nothing to move/);
});
