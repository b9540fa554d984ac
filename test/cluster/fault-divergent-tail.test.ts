// Fault: a divergent tail (issue 13, "Tests"). The leader takes acks=1 writes that no follower
// has (both followers SIGSTOPped for less than the session TTL), then is SIGKILLed. Tries to
// break: truncation by leader epoch (docs/cluster.md, "Truncation by leader epoch") and "a
// record acknowledged with acks=all survives": a new leader takes acks=all writes at the same
// offsets, and the old leader, restarted, must drop its tail and end with exactly the new
// leader's log, every acks=all write present once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import {
  type Acked, assertAcknowledgedPresent, createReplicated, logEvents, partition0, produceOk, stopAndCompareReplicas,
} from './fault-helpers.js';

const TTL_MS = 6000;
const STALL_MARGIN_MS = 20_000;
const TOPIC = 'divergent';
const env = brokerClusterForFile({ brokers: 3, sessionTtlMs: TTL_MS });
const cluster = (): BrokerCluster => env.cluster;

test('a leader\'s acks=1 tail that no follower has is truncated away when it comes back; every acks=all write is on every replica once', { skip: etcdTool.skip, timeout: 180_000 }, async () => {
  const first = await createReplicated(cluster(), TOPIC);
  const old = first.leader;
  const followers = first.replicas.filter((b) => b !== old);
  const acked: Acked[] = [];
  for (let i = 0; i < 3; i++) {
    const values = Array.from({ length: 5 }, (_, j) => `all-${i}-${j}`);
    acked.push(await produceOk(cluster(), old, TOPIC, values, -1));
  }

  // Followers stalled (for far less than the TTL: their leases live); the leader alone takes
  // acks=1 writes. A follower's long poll parked at the leader may still carry the first of
  // them into its socket, so several batches: the later ones reach no follower.
  for (const f of followers) cluster().broker(f).pause();
  const tail: string[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const values = Array.from({ length: 5 }, (_, j) => `one-${i}-${j}`);
      await produceOk(cluster(), old, TOPIC, values, 1, 5000);
      tail.push(...values);
    }
    await cluster().broker(old).kill();
  } finally {
    for (const f of followers) cluster().broker(f).resume();
  }

  const next = await until(async () => {
    const p = await partition0(cluster(), TOPIC, followers[0]);
    return p && p.leader >= 0 && p.leader !== old ? p : undefined;
  }, TTL_MS + STALL_MARGIN_MS, 'a new leader');
  assert.ok(next.leaderEpoch > first.leaderEpoch, `epoch ${next.leaderEpoch} > ${first.leaderEpoch}`);

  // The new leader takes acks=all writes at the offsets the old leader's tail used.
  for (let i = 0; i < 5; i++) {
    const values = Array.from({ length: 5 }, (_, j) => `new-${i}-${j}`);
    acked.push(await produceOk(cluster(), next.leader, TOPIC, values, -1));
  }

  await cluster().broker(old).restart();
  await until(async () => {
    const p = await partition0(cluster(), TOPIC, next.leader);
    return p && p.isr.length === 3 ? p : undefined;
  }, 60_000, 'the old leader back in the ISR');
  // It did have a tail to drop: it truncated by leader epoch before fetching.
  assert.ok(logEvents(cluster().broker(old).logs(), 'replication.truncated').length > 0, 'the restarted broker truncated its log');

  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, acked);
  // The last acks=1 batch reached no follower: it is gone from every replica.
  const values = new Set(log.map((r) => r.value));
  assert.ok(!values.has(tail[tail.length - 1]!), `the old leader's last acks=1 write (${tail[tail.length - 1]}) is gone`);
  for (const v of tail) assert.ok(!values.has(v) || log.filter((r) => r.value === v).length === 1, `${v} at most once`);
});
