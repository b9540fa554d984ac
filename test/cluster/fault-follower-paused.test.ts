// Fault: a follower SIGSTOPped (issue 13, "Tests"). Tries to break the ISR rules
// (docs/cluster.md, "Replication"): the leader must drop the stalled follower from the ISR
// after replicaLagTimeMs (written to etcd, so every broker's Metadata shows it), acks=all
// must keep being acknowledged with the 2 in sync (minInsyncReplicas 2), and once resumed the
// follower catches up, rejoins, and ends with the same bytes as the others.
// The session TTL is long (20 s) next to the lag time (2 s): the follower leaves the ISR by
// the leader's lag check, not by its lease expiring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue } from '../integration/broker-helpers.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { type Acked, assertAcknowledgedPresent, createReplicated, partition0, produceOk, stopAndCompareReplicas } from './fault-helpers.js';

const LAG_MS = 2000;
const TOPIC = 'stalled';
const env = brokerClusterForFile({ brokers: 3, sessionTtlMs: 20_000, args: ['--replica-lag-time-ms', String(LAG_MS)] });
const cluster = (): BrokerCluster => env.cluster;

test('a SIGSTOPped follower leaves the ISR after replicaLagTimeMs, acks=all goes on with 2, and resumed it catches up and rejoins', { skip: etcdTool.skip, timeout: 180_000 }, async () => {
  const first = await createReplicated(cluster(), TOPIC);
  const leader = first.leader;
  const [stalled, other] = first.replicas.filter((b) => b !== leader) as [number, number];
  const acked: Acked[] = [];
  let n = 0;
  const write = async (): Promise<void> => {
    const values = Array.from({ length: 5 }, (_, j) => `v-${n}-${j}`);
    n++;
    acked.push(await produceOk(cluster(), leader, TOPIC, values, -1));
  };
  for (let i = 0; i < 5; i++) await write();

  const shrinksBefore = await metricValue(cluster().broker(leader).httpUrl, 'sluice_isr_shrinks_total');
  cluster().broker(stalled).pause();
  const pausedAt = Date.now();
  try {
    // Writes keep the log moving, so the stalled follower falls behind; the ISR shrinks.
    const shrunk = await until(async () => {
      await write();
      const p = await partition0(cluster(), TOPIC, other);
      return p && !p.isr.includes(stalled) ? p : undefined;
    }, 30_000, `broker ${stalled} out of the ISR`);
    // The leader dates catching up by the arrival of the follower's last fetch, a 500 ms long
    // poll (ReplicaFetcher's maxWaitMs) that may have arrived that long before the pause.
    assert.ok(Date.now() - pausedAt >= LAG_MS - 500, `not before replicaLagTimeMs (${Date.now() - pausedAt} ms after the pause)`);
    assert.deepEqual([...shrunk.isr].sort(), [leader, other].sort());
    assert.equal(shrunk.leader, leader, 'the leader stays');
    assert.ok(await metricValue(cluster().broker(leader).httpUrl, 'sluice_isr_shrinks_total') > shrinksBefore, 'the leader shrank the ISR (not a lease expiry)');
    // acks=all with 2 in sync: acknowledged, at consecutive offsets.
    for (let i = 0; i < 10; i++) await write();
  } finally {
    cluster().broker(stalled).resume();
  }

  await until(async () => {
    const p = await partition0(cluster(), TOPIC, other);
    return p && p.isr.length === 3 ? p : undefined;
  }, 60_000, `broker ${stalled} back in the ISR`);
  for (let i = 0; i < 3; i++) await write();
  for (let i = 1; i < acked.length; i++) assert.equal(acked[i]!.baseOffset, acked[i - 1]!.baseOffset + 5, 'offsets follow one another');

  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, acked);
});
