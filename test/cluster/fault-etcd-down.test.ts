// Fault: etcd itself SIGKILLed, for everyone (issue 13, "Tests"; docs/cluster.md, "Fencing":
// failsafe mode). Tries to break: "leaders keep serving produce and fetch while etcd is down"
// without breaking the fence. For more than 3 TTLs after the kill (past the self-fence point
// and past the etcd client's own give-up at 2 TTLs) the existing leader acknowledges acks=all
// writes (every other broker grants its failsafe checks) and a consumer fetch returns them;
// CreateTopics fails with ETCD_UNAVAILABLE (retriable) within a bound. After etcd restarts with
// its data, the leader leaves failsafe mode, a new topic can be created, a SIGKILLed leader is
// replaced, and no acknowledged write is lost (replicas byte-identical).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from '../../src/protocol/api.js';
import { errorName } from '../../src/protocol/errors.js';
import { decodeBatches } from '../../src/record/decoder.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { waitForMetric } from '../integration/broker-helpers.js';
import { assertAcknowledgedPresent, createReplicated, logEvents, partition0, produceOk, produceTo, stopAndCompareReplicas, type Acked } from './fault-helpers.js';

const TTL_MS = 6000;
const TOPIC = 'etcd-down';
const env = brokerClusterForFile({ brokers: 3, sessionTtlMs: TTL_MS });
const cluster = (): BrokerCluster => env.cluster;

/** The values of every record a consumer fetch from `nodeId` returns from `offset` (up to the high watermark). */
async function consume(nodeId: number, offset: number): Promise<string[]> {
  const res = await cluster().request(nodeId, Api.Fetch, {
    maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, partitions: [{ topic: TOPIC, partition: 0, offset, maxBytes: 1 << 20 }],
  });
  const p = res.partitions[0]!;
  if (p.error && p.error.code !== 0) throw new Error(`fetch from broker ${nodeId}: ${errorName(p.error.code)} ${p.error.message}`);
  return [...decodeBatches(Buffer.from(p.records))].flatMap((b) => b.records.map((r) => r.value!.toString()));
}

test('etcd SIGKILLed: the leader keeps acknowledging acks=all and serving fetches for 3 TTLs, metadata changes fail retriably, and after etcd is back everything resumes with no acknowledged write lost', { skip: etcdTool.skip, timeout: 300_000 }, async () => {
  const first = await createReplicated(cluster(), TOPIC);
  const leader = first.leader;
  const other = first.replicas.find((b) => b !== leader)!;
  const acked: Acked[] = [];
  for (let i = 0; i < 3; i++) acked.push(await produceOk(cluster(), leader, TOPIC, [`before-${i}`], -1));

  const killedAt = Date.now();
  await cluster().etcd.kill();

  // Metadata changes: refused with a retriable error naming etcd, within a bound (the TTL plus
  // room for a stalled machine), at the controller's followers and the controller alike.
  for (const via of [other, leader]) {
    const t0 = Date.now();
    const res = await cluster().request(via, Api.CreateTopics, { topics: [{ name: `during-${via}`, partitions: 1 }] });
    const e = res.topics[0]!.error;
    assert.ok(e && e.code !== 0, `CreateTopics through broker ${via} fails while etcd is down`);
    assert.equal(errorName(e.code), 'ETCD_UNAVAILABLE', `${e.message}: ${cluster().broker(via).logs().split('\n').filter((l) => l.includes('"error"')).slice(-3).join('\n')}`);
    assert.match(e.message, /etcd/);
    assert.ok(Date.now() - t0 < TTL_MS + 10_000, `answered within the bound (${Date.now() - t0} ms)`);
  }

  // acks=all to the existing leader, on and on, for more than 3 TTLs. A write may be refused
  // for a moment when the failsafe starts (a peer fences itself a little after the leader);
  // it is retried, as a client does.
  let n = 0;
  const lateAcked: { sentAt: number; values: string[]; baseOffset: number }[] = [];
  while (Date.now() < killedAt + 3 * TTL_MS + 2000) {
    const values = [`down-${n++}`];
    const sentAt = Date.now();
    const r = await produceTo(cluster(), leader, TOPIC, values, -1, 3000);
    if (r.ok) {
      acked.push({ baseOffset: r.baseOffset, values });
      lateAcked.push({ sentAt, values, baseOffset: r.baseOffset });
    } else {
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  const last = await until(async () => {
    const values = [`down-last-${n++}`];
    const r = await produceTo(cluster(), leader, TOPIC, values, -1, 3000);
    return r.ok ? { baseOffset: r.baseOffset, values } : undefined;
  }, 20_000, 'an acks=all write acknowledged more than 3 TTLs into the outage');
  acked.push(last);
  for (const k of [1, 2, 3]) {
    assert.ok(lateAcked.some((a) => a.sentAt >= killedAt + k * TTL_MS), `acks=all writes acknowledged ${k} TTL(s) after etcd died`);
  }
  assert.ok(logEvents(cluster().broker(leader).logs(), 'replication.failsafe.on').length >= 1, 'the leader logged replication.failsafe.on');
  await waitForMetric(cluster().broker(leader).httpUrl, 'sluice_cluster_failsafe_active', {}, (v) => v === 1, 10_000);
  const seen = await consume(leader, last.baseOffset);
  assert.deepEqual(seen, last.values, 'a consumer fetch from the leader returns the write acknowledged during the outage');

  await cluster().etcd.restart();
  await until(async () => (logEvents(cluster().broker(leader).logs(), 'replication.failsafe.off').length >= 1 ? true : undefined), 60_000, 'the leader left failsafe mode');
  await waitForMetric(cluster().broker(leader).httpUrl, 'sluice_cluster_failsafe_active', {}, (v) => v === 0, 10_000);
  // A new topic can be created again (retried while sessions and the controller come back).
  await until(async () => {
    const res = await cluster().request(other, Api.CreateTopics, { topics: [{ name: 'after-etcd', partitions: 1 }] });
    const e = res.topics[0]!.error;
    return !e || e.code === 0 || errorName(e.code) === 'TOPIC_ALREADY_EXISTS' ? true : undefined;
  }, 90_000, 'a topic created after etcd is back');

  // Failover works again: SIGKILL whoever leads now; another replica takes over at a higher epoch.
  const now = await until(async () => {
    const p = await partition0(cluster(), TOPIC);
    return p && p.leader >= 0 && p.isr.length >= 2 ? p : undefined;
  }, 90_000, `a leader of ${TOPIC}-0 with 2 in sync after etcd is back`);
  const survivor = now.replicas.find((b) => b !== now.leader)!;
  await cluster().broker(now.leader).kill();
  const next = await until(async () => {
    const p = await partition0(cluster(), TOPIC, survivor);
    return p && p.leader >= 0 && p.leader !== now.leader && p.leaderEpoch > now.leaderEpoch ? p : undefined;
  }, TTL_MS + 30_000, 'a new leader after the SIGKILL');
  acked.push(await produceOk(cluster(), next.leader, TOPIC, ['after-failover'], -1));
  await cluster().broker(now.leader).restart();
  await until(async () => {
    const p = await partition0(cluster(), TOPIC, next.leader);
    return p && p.isr.length === 3 ? p : undefined;
  }, 90_000, 'the killed broker back in the ISR');

  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, acked);
});
