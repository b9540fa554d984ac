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
// shows the failover case does store the retried batches twice.
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
import { createReplicated, partition0, stopAndCompareReplicas } from './fault-helpers.js';

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
  const leaderUrl = normalizeUrl(cluster.broker(leader).url);
  const producer = new Producer({
    brokers: [cluster.brokers.find((b) => b.nodeId !== leader)!.url], acks: 'all', lingerMs: 0, idempotent,
    connectionFactory: (urls, opts) => new Connection(urls.map((u) => (normalizeUrl(u) === leaderUrl ? `ws://127.0.0.1:${proxy.port}` : u)), opts),
  });
  t.after(() => producer.close());
  const first = await producer.send(TOPIC, { value: 'first', partition: 0 });
  assert.equal(first.offset, 0);
  assert.ok(proxy.connections > 0, 'the producer reaches the leader through the proxy');
  return { cluster, leader, proxy, producer };
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
