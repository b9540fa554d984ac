// Compaction of a coordinator partition in a cluster (docs/cluster.md, "Coordinators"): etcd +
// three broker processes with small segments. Thousands of commits to one group make its
// coordinator snapshot the group's offsets into its partition of __consumer_offsets and move
// the log start to the snapshot; every replica copies that log start and deletes the segments
// before it; a SIGKILL of the coordinator is followed by a new coordinator rebuilt from the
// snapshot with exactly the offsets last committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from '../../src/protocol/api.js';
import { GROUP_COORDINATOR_TOPIC } from '../../src/topic-name.js';
import { COORDINATOR_PARTITIONS, coordinatorPartition } from '../../src/group/coordinator-partition.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { replicaOnDisk, retriedWhileRetriable, until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const SEGMENT_BYTES = 8192;
const env = brokerClusterForFile({ brokers: 3, args: ['--log-segment-bytes', String(SEGMENT_BYTES)] });

/** The coordinator of `group`, once FindCoordinator at a live broker names a live one. */
async function coordinatorOf(cluster: BrokerCluster, group: string, not?: number): Promise<number> {
  return until(async () => {
    const at = cluster.brokers.find((b) => b.running)!.nodeId;
    const res = await cluster.request(at, Api.FindCoordinator, { key: group }).catch(() => undefined);
    return res && res.nodeId > 0 && res.nodeId !== not && cluster.broker(res.nodeId).running ? res.nodeId : undefined;
  }, 60_000, `a live coordinator of ${group}`);
}

const retried = <T>(what: string, run: () => Promise<T | undefined>) => retriedWhileRetriable(what, run);
const replica = (dataDir: string, partition: number) => replicaOnDisk(dataDir, GROUP_COORDINATOR_TOPIC, partition);

test('a coordinator partition compacts in place: every replica moves its log start and drops older segments; a SIGKILLed coordinator is rebuilt with exactly the committed offsets', { skip: etcdTool.skip, timeout: 300_000 }, async () => {
  const cluster = env.cluster;
  const group = 'g-compact';
  const partition = coordinatorPartition(group, COORDINATOR_PARTITIONS);
  const PARTS = 4;
  const COMMITS = 1500; // 6000 records on 4 live keys: past the single broker's thresholds (1000 records, 4x live) several times
  const coordinator = await coordinatorOf(cluster, group);
  const commit = (n: number) => retried(`commit ${n}`, async () => {
    const res = await cluster.request(coordinator, Api.OffsetCommit, {
      groupId: group, partitions: Array.from({ length: PARTS }, (_, p) => ({ topic: 'work', partition: p, offset: n * 10 + p })),
    });
    // A partition's error (COORDINATOR_LOAD_IN_PROGRESS while it loads): asked again, bounded by until().
    return res.partitions.every((p) => p.error === undefined) ? true : undefined;
  });
  // 8 commits in flight: the coordinator writes them one at a time, each acks=all.
  for (let n = 0; n < COMMITS; n += 8) await Promise.all(Array.from({ length: 8 }, (_, i) => commit(n + i)));
  const fetched = await cluster.request(coordinator, Api.OffsetFetch, { groupId: group, partitions: Array.from({ length: PARTS }, (_, p) => ({ topic: 'work', partition: p })) });
  const committed = new Map(fetched.partitions.map((p) => [p.partition, p.offset]));
  // Commits in flight together land in any order: what the coordinator answers is the truth to keep.
  for (const [p, o] of committed) assert.ok(o >= (COMMITS - 8) * 10 + p && o % 10 === p, `partition ${p}: ${o}`);

  // Every replica copies the leader's log start (followers take it from their fetch answers).
  const leaderStart = replica(cluster.broker(coordinator).dataDir, partition).start;
  assert.ok(leaderStart > 0, `the coordinator's log start moved (it is ${leaderStart})`);
  const replicas = await until(async () => {
    const all = cluster.brokers.map((b) => ({ node: b.nodeId, ...replica(b.dataDir, partition) }));
    return all.every((r) => r.start >= leaderStart) ? all : undefined;
  }, 30_000, `every replica of ${GROUP_COORDINATOR_TOPIC}-${partition} at log start ${leaderStart}`);
  for (const r of replicas) {
    // No segment wholly before the log start is left: the first holds it, the next starts past it.
    assert.ok(r.bases[0]! <= r.start && (r.bases[1] === undefined || r.bases[1] > r.start), `broker ${r.node}: segments ${r.bases.join(', ')}, start ${r.start}`);
    // The 1500 commits took ~800 kB (about 130 bytes a record); what is left is the last
    // snapshot and the commits since, fewer than the 1000-record threshold (~90 kB), plus the
    // part of the first segment before the start.
    assert.ok(r.bytes < 160_000, `broker ${r.node}: ${r.bytes} bytes left`);
  }
  console.log(`log start of ${GROUP_COORDINATOR_TOPIC}-${partition} at ${leaderStart}; bytes left per replica: ${replicas.map((r) => `${r.node}:${r.bytes}`).join(' ')}`);

  await cluster.broker(coordinator).kill();
  const next = await coordinatorOf(cluster, group, coordinator);
  const after = await retried('OffsetFetch at the new coordinator', () => cluster.request(next, Api.OffsetFetch, {
    groupId: group, partitions: [...committed.keys()].map((p) => ({ topic: 'work', partition: p })),
  }));
  assert.deepEqual(new Map(after.partitions.map((p) => [p.partition, p.offset])), committed, 'the new coordinator has exactly the committed offsets');
  await cluster.broker(coordinator).restart();
});
