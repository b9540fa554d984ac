// The idempotent producer against a replicated partition (issue 13, "Idempotence: a proxy that
// drops produce answers forces retries; the log has no duplicate"), three broker processes and
// etcd, a topic of one partition with replication factor 3. The real Producer reaches the
// partition's leader through a TCP proxy (its connection factory swaps the leader's URL for the
// proxy's; everything else, replication included, goes direct) that keeps the produce answers.
// Once the leader's high watermark shows that every batch sent is stored on every in-sync
// replica, the test either cuts the proxy (the client retries on the same leader) or SIGKILLs
// the leader (the client retries on the new leader, which knows the producer only from the
// replicated log). Either way each record is stored exactly once, in order, at the offsets the
// producer is told, and the replicas end byte-identical. A control run without idempotence
// shows the failover case does store the retried batches twice. Last, a new leader that has
// none of the producer's batches (the old leader took them with acks=1 while the followers
// were paused): it refuses the first retry with UNKNOWN_PRODUCER_ID, and the producer sends
// every waiting retry again under the next epoch of its producer id (before the fix in
// src/client/idempotence.ts the partition's sends never settled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../../src/client/connection.js';
import { normalizeUrl } from '../../src/client/broker-list.js';
import { Producer } from '../../src/client/producer.js';
import type { SendResult } from '../../src/client/types.js';
import { Api, LATEST } from '../../src/protocol/api.js';
import { TcpProxy } from '../tcp-proxy.js';
import { startBrokerCluster, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { createReplicated, partition0, produceTo, stopAndCompareReplicas } from './fault-helpers.js';
import { waitForMetric } from '../integration/broker-helpers.js';

const TOPIC = 'idem';
/** Sends in flight at once (each its own batch): the five unsettled batches a partition allows. */
const SENDS = 5;
const PER_SEND = 20;
/** Room for a stalled CI machine on top of a failover (the default session TTL, 6 s). */
const FAILOVER_BOUND_MS = 6000 + 40_000;

interface Run {
  cluster: BrokerCluster;
  leader: number;
  proxy: TcpProxy;
  producer: Producer;
}

/**
 * A cluster with TOPIC, a proxy in front of its leader and a producer bootstrapped on another
 * broker (its metadata does not go through the proxy); one message sent and acknowledged first,
 * so the producer id is taken and the leader known.
 */
async function setup(t: { after(fn: () => Promise<unknown>): void }, idempotent: boolean): Promise<Run> {
  const cluster = await startBrokerCluster({ brokers: 3 });
  t.after(() => cluster.stop());
  const { leader } = await createReplicated(cluster, TOPIC);
  const proxy = await TcpProxy.start(cluster.broker(leader).port);
  t.after(() => proxy.close());
  const producer = proxiedProducer(cluster, leader, proxy, { acks: 'all', idempotent });
  t.after(() => producer.close());
  const first = await producer.send(TOPIC, { value: 'first', partition: 0 });
  assert.equal(first.offset, 0);
  assert.ok(proxy.connections > 0, 'the producer reaches the leader through the proxy');
  return { cluster, leader, proxy, producer };
}

/** A Producer bootstrapped on a broker other than `leader`, reaching `leader` through `proxy` and the others direct. */
function proxiedProducer(cluster: BrokerCluster, leader: number, proxy: TcpProxy, opts: { acks: 1 | 'all'; idempotent: boolean }): Producer {
  const leaderUrl = normalizeUrl(cluster.broker(leader).url);
  return new Producer({
    brokers: [cluster.brokers.find((b) => b.nodeId !== leader)!.url], lingerMs: 0, ...opts,
    connectionFactory: (urls, o) => new Connection(urls.map((u) => (normalizeUrl(u) === leaderUrl ? `ws://127.0.0.1:${proxy.port}` : u)), o),
  });
}

/**
 * SENDS sends of PER_SEND messages while the proxy keeps the answers; resolves once the
 * leader's high watermark covers all of them (stored on every in-sync replica, answered, the
 * answers kept), with the sends still unanswered.
 */
async function sendWithAnswersKept(run: Run): Promise<{ sends: Promise<SendResult[]>[]; values: string[] }> {
  run.proxy.hold('toClient');
  const values: string[] = [];
  const sends: Promise<SendResult[]>[] = [];
  for (let s = 0; s < SENDS; s++) {
    const msgs = Array.from({ length: PER_SEND }, (_, i) => ({ value: `s${s}-${i}`, partition: 0 }));
    values.push(...msgs.map((m) => m.value));
    sends.push(run.producer.send(TOPIC, msgs));
    // Next turn of the event loop: lingerMs 0 closes this send's batch first, so each send is its own batch.
    await new Promise((r) => setImmediate(r));
  }
  await until(async () => {
    const res = await run.cluster.request(run.leader, Api.ListOffsets, { partitions: [{ topic: TOPIC, partition: 0, timestamp: LATEST }] }).catch(() => undefined);
    return res && res.partitions[0]!.offset >= 1 + values.length ? true : undefined;
  }, 60_000, `the leader's high watermark past the ${values.length} messages sent`);
  return { sends, values };
}

/** SIGKILLs the leader; once the sends are answered (by the new leader), restarts it and waits until all 3 are in sync. */
async function failover(run: Run, sends: Promise<SendResult[]>[]): Promise<SendResult[]> {
  await run.cluster.broker(run.leader).kill();
  let timer: NodeJS.Timeout | undefined;
  const results = await Promise.race([
    Promise.all(sends),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`sends not answered ${FAILOVER_BOUND_MS} ms after the leader's kill`)), FAILOVER_BOUND_MS); }),
  ]).finally(() => clearTimeout(timer));
  const p = await partition0(run.cluster, TOPIC);
  assert.ok(p && p.leader !== run.leader, `a new leader (${p?.leader}) took over from broker ${run.leader}`);
  await run.cluster.broker(run.leader).restart();
  await until(async () => {
    const q = await partition0(run.cluster, TOPIC);
    return q && q.isr.length === 3 ? q : undefined;
  }, 60_000, `broker ${run.leader} back in the ISR`);
  return results.flat();
}

/** The log holds 'first' and `values` once each, in order, at the offsets the producer was told. */
function assertExactlyOnce(log: { offset: number; value: string }[], values: string[], results: SendResult[]): void {
  assert.deepEqual(log.map((r) => r.value), ['first', ...values], 'every record once, in order');
  assert.deepEqual(results.map((r) => r.offset), values.map((_, i) => 1 + i), 'each send answered with the offsets of its first store');
}

test('answers dropped with the link to the leader: the retries are answered as duplicates, each record stored once, in order', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const run = await setup(t, true);
  const { sends, values } = await sendWithAnswersKept(run);
  run.proxy.cut();
  run.proxy.restore();
  const results = (await Promise.all(sends)).flat();
  assertExactlyOnce(await stopAndCompareReplicas(run.cluster, TOPIC), values, results);
});

test('answers dropped and the leader SIGKILLed: the new leader answers the retries as duplicates, each record stored once, replicas identical', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const run = await setup(t, true);
  const { sends, values } = await sendWithAnswersKept(run);
  const results = await failover(run, sends);
  assertExactlyOnce(await stopAndCompareReplicas(run.cluster, TOPIC), values, results);
});

test('control: without idempotence the same failover stores the retried batches twice', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const run = await setup(t, false);
  const { sends, values } = await sendWithAnswersKept(run);
  await failover(run, sends);
  const log = await stopAndCompareReplicas(run.cluster, TOPIC);
  assert.ok(log.length > 1 + values.length, `duplicates stored: ${log.length} records for ${1 + values.length} sent`);
});

test('a new leader that never got the producer\'s batches (acks=1 writes of a leader that died first): the retries are refused as UNKNOWN_PRODUCER_ID and sent again under the next epoch of the producer id, once each, in order', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const cluster = await startBrokerCluster({ brokers: 3 });
  t.after(() => cluster.stop());
  const { leader } = await createReplicated(cluster, TOPIC);
  await createReplicated(cluster, 'warm-up');
  const proxy = await TcpProxy.start(cluster.broker(leader).port);
  t.after(() => proxy.close());
  const producer = proxiedProducer(cluster, leader, proxy, { acks: 1, idempotent: true });
  t.after(() => producer.close());
  // The producer id is taken on another topic, and TOPIC's leader is known: nothing below needs a follower.
  await producer.send('warm-up', { value: 'w', partition: 0 });
  await producer.partitionCount(TOPIC);
  // Followers paused well under the TTL (they keep their leases and their place in the ISR):
  // every batch of this producer on TOPIC is on the leader alone.
  const followers = cluster.brokers.filter((b) => b.nodeId !== leader);
  for (const f of followers) f.pause();
  try {
    // A paused follower's fetch was waiting at the leader: the first append after the pause is
    // answered into its socket and appended when it resumes. Let that be a batch of no
    // producer, so that the new leader usually has none of this producer's batches.
    const filler = await produceTo(cluster, leader, TOPIC, ['filler'], 1);
    assert.ok(filler.ok, JSON.stringify(filler));
    assert.equal((await producer.send(TOPIC, { value: 'first', partition: 0 })).offset, 1);
    proxy.hold('toClient');
    const values: string[] = [];
    const sends: Promise<SendResult[]>[] = [];
    for (let s = 0; s < 3; s++) {
      const msgs = Array.from({ length: PER_SEND }, (_, i) => ({ value: `s${s}-${i}`, partition: 0 }));
      values.push(...msgs.map((m) => m.value));
      sends.push(producer.send(TOPIC, msgs));
      await new Promise((r) => setImmediate(r));
    }
    await waitForMetric(cluster.broker(leader).httpUrl, 'sluice_messages_in_total', { topic: TOPIC }, (v) => v >= 2 + values.length, 60_000);
    await cluster.broker(leader).kill();
    for (const f of followers) f.resume();
    // The retries reach the new leader, which has no batch of this producer.
    let timer: NodeJS.Timeout | undefined;
    const results = (await Promise.race([
      Promise.all(sends),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`sends not answered ${FAILOVER_BOUND_MS} ms after the leader's kill`)), FAILOVER_BOUND_MS); }),
    ]).finally(() => clearTimeout(timer))).flat();
    const p = await partition0(cluster, TOPIC);
    assert.ok(p && p.leader !== leader, 'a new leader took over');
    // Restarted, the old leader truncates its acks=1 log by leader epoch and copies the new one.
    await cluster.broker(leader).restart();
    await until(async () => {
      const q = await partition0(cluster, TOPIC);
      return q && q.isr.length === 3 ? q : undefined;
    }, 60_000, `broker ${leader} back in the ISR`);
    const log = await stopAndCompareReplicas(cluster, TOPIC);
    // 'filler' and 'first' were acknowledged with acks=1 only: lost with their leader, as acks=1
    // allows, unless a follower had them in its socket. The retried records are there once each.
    const got = log.map((r) => r.value);
    const head = got.slice(0, got.length - values.length);
    assert.ok(['', 'filler', 'filler,first'].includes(head.join(',')), `before the retried records: ${head.join(',')}`);
    assert.deepEqual(got.slice(head.length), values, 'every retried record once, in order');
    assert.deepEqual(results.map((r) => r.offset), values.map((_, i) => head.length + i), 'answered with where the new leader stored them');
    console.log(head.includes('first') ? 'the new leader had the producer\'s first batch: the retries continued its sequence' : 'the new leader had no batch of the producer: UNKNOWN_PRODUCER_ID, re-sequenced under the next epoch');
  } finally {
    for (const f of followers) f.resume();
  }
});
