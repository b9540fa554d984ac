// Compaction of a share state partition in a cluster (docs/cluster.md, "Share groups"): etcd +
// three broker processes with small segments. Acquire/ack cycles make the share
// coordinator snapshot its groups into its partition of __share_state and move the log start
// there; every replica copies that log start and drops the segments before it; a SIGKILL of
// the coordinator is followed by a new coordinator rebuilt from the snapshot with the same
// state: acked jobs stay acked, held jobs come back with their delivery counts. A reload of the
// coordinator during the cycles (a state write failed under stalls) is tolerated as a worker
// must: the refused acks' records are delivered again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/client/producer.js';
import { fromWireError } from '../../src/protocol/errors.js';
import { SluiceError } from '../../src/errors.js';
import { Api, type ShareAcquireResponse, type ShareGroupDescriptionWire } from '../../src/protocol/api.js';
import { SHARE_COORDINATOR_TOPIC } from '../../src/topic-name.js';
import { COORDINATOR_PARTITIONS, coordinatorPartition } from '../../src/group/coordinator-partition.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { replicaOnDisk, retriedWhileRetriable, until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const env = brokerClusterForFile({ brokers: 3, args: ['--log-segment-bytes', '8192'] });

/** The share coordinator of `group`, once FindCoordinator at a live broker names a live one other than `not`. */
async function coordinatorOf(cluster: BrokerCluster, group: string, not?: number): Promise<number> {
  return until(async () => {
    const at = cluster.brokers.find((b) => b.running)!.nodeId;
    const res = await cluster.request(at, Api.FindCoordinator, { key: group, keyType: 'share' }).catch(() => undefined);
    return res && res.nodeId > 0 && res.nodeId !== not && cluster.broker(res.nodeId).running ? res.nodeId : undefined;
  }, 60_000, `a live share coordinator of ${group}`);
}

const retried = <T>(what: string, run: () => Promise<T>) => retriedWhileRetriable(what, run);
const replica = (dataDir: string, partition: number) => replicaOnDisk(dataDir, SHARE_COORDINATOR_TOPIC, partition);

function offsetsOf(res: ShareAcquireResponse): { partition: number; offset: number; count: number }[] {
  const out: { partition: number; offset: number; count: number }[] = [];
  for (const p of res.partitions) {
    if (p.error) throw fromWireError(p.error);
    for (const r of p.acquired) for (let o = r.firstOffset; o <= r.lastOffset; o++) out.push({ partition: p.partition, offset: o, count: r.deliveryCount });
  }
  return out;
}

test('a share state partition compacts in place: every replica moves its log start; a SIGKILLed coordinator is rebuilt with the same acked records and delivery counts', { skip: etcdTool.skip, timeout: 360_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'q-compact';
  const topic = 'cjobs';
  const partition = coordinatorPartition(group, COORDINATOR_PARTITIONS);
  // Acquire + ack cycles write one state record each, fewer when concurrent ones share a
  // write: rounds run until the coordinator compacted (1000 records and 4x live keys), at most MAX_CYCLES.
  const ROUND = 200;
  const MAX_CYCLES = 3000;
  const created = await cluster.request(1, Api.CreateTopics, { topics: [{ name: topic, partitions: 1, replicationFactor: 3 }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  const producer = new Producer({ brokers: cluster.brokers.map((b) => b.url), acks: 'all', lingerMs: 5 });
  t.after(() => producer.close());
  await Promise.all(Array.from({ length: MAX_CYCLES + 10 }, (_, i) => producer.send(topic, { value: `j-${i}`, partition: 0 })));

  const coordinator = await coordinatorOf(cluster, group);
  // Acquire attempts that failed retriably: each may still have handed its records out (an
  // answer lost to a stall), and a hand-out counts a delivery.
  let lostAcquires = 0;
  const acquire = (at: number, workerId: string, maxRecords: number) => {
    let attempts = 0;
    return retried(`acquire by ${workerId}`, () => {
      if (attempts++ > 0) lostAcquires++;
      return cluster.request(at, Api.ShareAcquire, { groupId: group, workerId, topics: [topic], maxRecords, maxWaitMs: 2000, settings: { maxDeliveries: 5 } });
    });
  };
  /** `got`'s delivery counts are `expected`'s, each above by at most the acquires lost since `lostBefore`. */
  const countsWithin = (got: { offset: number; count: number }[], expected: { offset: number; count: number }[], lostBefore: number, what: string) => {
    const lost = lostAcquires - lostBefore;
    const ok = got.length === expected.length && got.every((g, i) => g.offset === expected[i]!.offset && g.count >= expected[i]!.count && g.count <= expected[i]!.count + lost);
    assert.ok(ok, `${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)} (counts up to ${lost} above: acquires retried meanwhile)`);
  };
  const settle = (at: number, workerId: string, offsets: number[], type: 'ack' | 'release') => retried(`${type} by ${workerId}`, async () => {
    const res = await cluster.request(at, Api.ShareAck, { groupId: group, workerId, entries: [{ topic, partition: 0, offsets, type, ...(type === 'release' && { delayMs: 0 }) }] });
    const e = res.results[0]?.error;
    if (e) throw fromWireError(e);
    return true;
  });
  // Two workers, one record at a time each.
  let acked = 0;
  let forgotten = 0;
  // The coordinator's log start; 0 while its replica is not on disk yet (FindCoordinator can name
  // a broker still loading the partition: seen under stalls, its acquires are retried meanwhile).
  const coordinatorStart = () => {
    try {
      return replica(cluster.broker(coordinator).dataDir, partition).start;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  };
  while (coordinatorStart() === 0 && acked < MAX_CYCLES) {
    await Promise.all(['w0', 'w1'].map(async (w) => {
      for (let i = 0; i < ROUND / 2; i++) {
        const got = offsetsOf(await acquire(coordinator, w, 1));
        assert.equal(got.length, 1, 'a record is there to acquire');
        try {
          await settle(coordinator, w, got.map((g) => g.offset), 'ack');
          acked++;
        } catch (err) {
          // The coordinator reloaded from its replica meanwhile: a state write failed (under
          // machine stalls its broker lost its etcd session and fenced itself). It forgot its
          // workers and their locks, and the record comes back available with its count
          // (docs/cluster.md, "What a move keeps"): not acked, taken again later.
          if (!(err instanceof SluiceError) || (err.code !== 'UNKNOWN_MEMBER_ID' && err.code !== 'INVALID_RECORD_STATE')) throw err;
          forgotten++;
        }
      }
    }));
  }
  if (forgotten > 0) console.log(`${forgotten} acks refused after a reload of the coordinator; their records were delivered again`);
  // Three records released once (their count kept), taken again and held (count + 1). A record
  // delivered again after a reload starts above 1.
  const firstGot = offsetsOf(await acquire(coordinator, 'h', 3));
  const first = firstGot.map((g) => g.offset);
  assert.equal(first.length, 3);
  await settle(coordinator, 'h', first, 'release');
  const lostBeforeHeld = lostAcquires;
  const held = offsetsOf(await acquire(coordinator, 'h', 3));
  countsWithin(held, firstGot.map((g) => ({ offset: g.offset, count: g.count + 1 })), lostBeforeHeld, 'the released records held again, each at its next delivery');

  const describe = (at: number) => retried('ShareDescribe', async () => {
    const g = (await cluster.request(at, Api.ShareDescribe, { groupIds: [group] })).groups[0]!;
    if ('error' in g) throw fromWireError(g.error); // retried while loading
    return g as ShareGroupDescriptionWire;
  });
  const before = await describe(coordinator);
  // A refused ack may still have been applied: its state write reached the replicas, but the
  // answer was an error (the coordinator fenced itself before it knew), and its retry found the
  // worker forgotten. The ack stays (not delivered again); only the worker could not know.
  assert.ok(before.acked >= acked && before.acked <= acked + forgotten, `acked ${before.acked}: ${acked} acks answered, ${forgotten} refused after a reload`);

  // The coordinator compacted: its log start moved, and every replica copies it.
  const leaderStart = replica(cluster.broker(coordinator).dataDir, partition).start;
  assert.ok(leaderStart > 0, `the coordinator's log start of ${SHARE_COORDINATOR_TOPIC}-${partition} moved (it is ${leaderStart})`);
  const replicas = await until(async () => {
    const all = cluster.brokers.map((b) => ({ node: b.nodeId, ...replica(b.dataDir, partition) }));
    return all.every((r) => r.start >= leaderStart) ? all : undefined;
  }, 30_000, `every replica of ${SHARE_COORDINATOR_TOPIC}-${partition} at log start ${leaderStart}`);
  for (const r of replicas) {
    // No segment wholly before the log start is left.
    assert.ok(r.bases[0]! <= r.start && (r.bases[1] === undefined || r.bases[1] > r.start), `broker ${r.node}: segments ${r.bases.join(', ')}, start ${r.start}`);
  }
  console.log(`log start of ${SHARE_COORDINATOR_TOPIC}-${partition} at ${leaderStart} on every replica`);

  await cluster.broker(coordinator).kill();
  const next = await coordinatorOf(cluster, group, coordinator);
  const after = await describe(next);
  assert.equal(after.acked, before.acked, 'acked stay acked');
  assert.equal(after.redeliveries, before.redeliveries);
  assert.deepEqual(after.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]), before.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]));
  assert.deepEqual(after.settings, before.settings);
  // The held records come back first, each at its third delivery.
  const lostBeforeBack = lostAcquires;
  const back = offsetsOf(await acquire(next, 'n', 3));
  countsWithin(back, held.map((g) => ({ offset: g.offset, count: g.count + 1 })), lostBeforeBack, 'the held records keep their delivery counts');
  await cluster.broker(coordinator).restart();
});
