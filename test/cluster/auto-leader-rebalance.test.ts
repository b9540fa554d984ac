// The controller's automatic preferred-leader check (autoLeaderRebalance, docs/cluster.md
// "Moving data between brokers"): after the preferred leader of a partition is SIGKILLed and
// restarted, leadership returns to it once it is back in the ISR, without any admin call; with
// the setting off the checks run and move nothing. Real etcd, three broker processes each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrokerCluster, type BrokerCluster } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { until } from './cluster-helpers.js';
import { createReplicated, partition0, produceOk } from './fault-helpers.js';
import { metricValue, waitForMetric } from '../integration/broker-helpers.js';

const TOPIC = 'alr';
const CHECK_MS = 1000;
/**
 * Leadership must be back within this long of the preferred replica rejoining the ISR: one
 * check interval plus one election write, with room for the multi-second stalls of a loaded
 * CI machine. Without the check it never comes back (the second test shows checks running).
 */
const RETURN_BOUND_MS = 30_000;

/** A cluster checking every CHECK_MS, an RF 3 partition with acknowledged records, its preferred leader SIGKILLed, failed over and restarted back into the ISR. */
async function preferredLeaderBack(t: { after(fn: () => Promise<unknown>): void }, args: string[]): Promise<{ cluster: BrokerCluster; preferred: number; epochAway: number; other: number }> {
  const cluster = await startBrokerCluster({ brokers: 3, args: ['--leader-imbalance-check-interval-ms', String(CHECK_MS), ...args] });
  t.after(() => cluster.stop());
  const first = await createReplicated(cluster, TOPIC);
  const preferred = first.replicas[0]!;
  assert.equal(first.leader, preferred, 'a new partition is led by its first replica');
  await produceOk(cluster, preferred, TOPIC, ['a', 'b', 'c'], -1);
  const other = first.replicas.find((b) => b !== preferred)!;

  await cluster.broker(preferred).kill();
  const away = await until(async () => {
    const p = await partition0(cluster, TOPIC, other);
    return p && p.leader >= 0 && p.leader !== preferred ? p : undefined;
  }, 60_000, `${TOPIC}-0 led by another broker after ${preferred} was killed`);
  await produceOk(cluster, away.leader, TOPIC, ['d'], -1);
  await cluster.broker(preferred).restart();
  await until(async () => {
    const p = await partition0(cluster, TOPIC, other);
    return p?.isr.includes(preferred) ? p : undefined;
  }, 60_000, `broker ${preferred} back in the ISR of ${TOPIC}-0`);
  return { cluster, preferred, epochAway: away.leaderEpoch, other };
}

async function controllerId(cluster: BrokerCluster, via: number): Promise<number> {
  return until(async () => (await cluster.metadata(via)).controllerId, 30_000, 'a controller');
}

test('a SIGKILLed preferred leader, restarted, gets its leadership back from the automatic check, with no admin call', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const { cluster, preferred, epochAway, other } = await preferredLeaderBack(t, []);
  const inSyncAt = Date.now();
  const back = await until(async () => {
    const p = await partition0(cluster, TOPIC, other);
    return p?.leader === preferred ? p : undefined;
  }, RETURN_BOUND_MS, `leadership of ${TOPIC}-0 back at broker ${preferred} within ${RETURN_BOUND_MS} ms of it rejoining the ISR`);
  console.log(`leadership back at the preferred replica ${Date.now() - inSyncAt} ms after it rejoined the ISR (check every ${CHECK_MS} ms)`);
  assert.ok(back.leaderEpoch > epochAway, `a new leader epoch (${back.leaderEpoch} > ${epochAway})`);
  const controller = await controllerId(cluster, other);
  assert.ok(await metricValue(cluster.broker(controller).httpUrl, 'sluice_cluster_auto_leader_elections_total') >= 1, 'counted as an automatic election');
  await waitForMetric(cluster.broker(controller).httpUrl, 'sluice_cluster_preferred_leader_imbalance', {}, (v) => v === 0);
  // The returned leader takes acknowledged writes, and kept what was written while it was away.
  await produceOk(cluster, preferred, TOPIC, ['e'], -1);
});

test('with autoLeaderRebalance off the checks run and the leadership stays where failover put it', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const { cluster, preferred, other } = await preferredLeaderBack(t, ['--auto-leader-rebalance', 'false']);
  const controller = await controllerId(cluster, other);
  const url = cluster.broker(controller).httpUrl;
  const checks = await metricValue(url, 'sluice_cluster_leader_imbalance_checks_total');
  // Three whole checks after the preferred replica was back in the ISR: each could have moved it.
  await waitForMetric(url, 'sluice_cluster_leader_imbalance_checks_total', {}, (v) => v >= checks + 3, 60_000);
  const p = await partition0(cluster, TOPIC, other);
  assert.notEqual(p?.leader, preferred, 'the leadership did not move back');
  assert.ok(p!.isr.includes(preferred), 'though the preferred replica is in sync');
  assert.equal(await metricValue(url, 'sluice_cluster_auto_leader_elections_total'), 0);
  assert.ok(await metricValue(url, 'sluice_cluster_preferred_leader_imbalance') >= 1, 'the imbalance is reported');
});
