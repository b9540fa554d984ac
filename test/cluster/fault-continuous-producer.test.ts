// Fault: two failovers under a continuous acks=all producer (issue 13, "Tests"), with the
// default session TTL (6 s). A producer loop sends batches to whoever Metadata names as leader,
// retrying on any failure (without idempotence a retry after a timeout may store a batch
// twice: only acknowledged batches at their acknowledged offsets are counted). The test
// SIGKILLs the leader, waits for recovery, restarts it, then SIGKILLs the new leader. Tries to
// break "a record acknowledged with acks=all survives" across two failovers: every
// acknowledged batch is on every replica exactly at its offset, once, in order, and the
// replicas end byte-identical. Prints the failover times (kill -> first acknowledged produce
// on the new leader).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { assertAcknowledgedPresent, createReplicated, leaderFollowingProducer, partition0, stopAndCompareReplicas } from './fault-helpers.js';

const TTL_MS = 6000;
const STALL_MARGIN_MS = 20_000;
const TOPIC = 'continuous';
const env = brokerClusterForFile({ brokers: 3, sessionTtlMs: TTL_MS });
const cluster = (): BrokerCluster => env.cluster;


test('acks=all producing continuously through two leader SIGKILLs: every acknowledged batch on every replica once, at its offset', { skip: etcdTool.skip, timeout: 300_000 }, async () => {
  const first = await createReplicated(cluster(), TOPIC);
  // One batch at a time to the leader it knows; on any failure it asks Metadata again and retries the same values.
  const producer = leaderFollowingProducer(cluster(), TOPIC, first.leader, { batch: 10, prefix: 'v' });
  const acked = producer.acked;

  const ackedBy = (broker: number, after: number) => until(
    () => Promise.resolve(acked.find((a) => a.broker === broker && a.at > after)), TTL_MS + STALL_MARGIN_MS, `a produce acknowledged by broker ${broker}`);
  const failover = async (victim: number): Promise<{ next: number; ms: number }> => {
    const killedAt = Date.now();
    await cluster().broker(victim).kill();
    const a = await until(() => Promise.resolve(acked.find((x) => x.broker !== victim && x.at > killedAt)), TTL_MS + STALL_MARGIN_MS, 'a produce acknowledged by a new leader');
    return { next: a.broker, ms: a.at - killedAt };
  };

  try {
    await ackedBy(first.leader, 0);
    while (acked.length < 20) await ackedBy(first.leader, acked[acked.length - 1]!.at);
    const one = await failover(first.leader);
    const countAfterOne = acked.length;
    await until(() => Promise.resolve(acked.length >= countAfterOne + 20 ? true : undefined), 30_000, 'writes on the new leader');
    await cluster().broker(first.leader).restart();
    await until(async () => {
      const p = await partition0(cluster(), TOPIC, one.next);
      return p && p.isr.length === 3 ? p : undefined;
    }, 60_000, `broker ${first.leader} back in the ISR`);
    const two = await failover(one.next);
    const countAfterTwo = acked.length;
    await until(() => Promise.resolve(acked.length >= countAfterTwo + 20 ? true : undefined), 30_000, 'writes on the third leader');
    console.log(`failover times (kill -> first acknowledged produce on the new leader), session TTL ${TTL_MS} ms: ${one.ms} ms, ${two.ms} ms`);
    await producer.stop();
    await cluster().broker(one.next).restart();
    await until(async () => {
      const p = await partition0(cluster(), TOPIC, two.next);
      return p && p.isr.length === 3 ? p : undefined;
    }, 60_000, `broker ${one.next} back in the ISR`);
  } finally {
    await producer.stop();
  }
  for (let i = 1; i < acked.length; i++) assert.ok(acked[i]!.baseOffset > acked[i - 1]!.baseOffset, 'acknowledged offsets increase');
  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, acked);
});
