/**
 * Shared pieces of the fault tests (test/cluster/fault-*.test.ts): a replicated topic of one
 * partition on a BrokerCluster, its state as a broker's Metadata tells it, produce with the
 * answer kept as data (an error name is an outcome the tests count, not a failure), and the
 * replicas' logs read back from their segment files once the brokers are stopped.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Api, type PartitionMetadata } from '../../src/protocol/api.js';
import { errorName } from '../../src/protocol/errors.js';
import { encodeBatch } from '../../src/record/encoder.js';
import { decodeBatches } from '../../src/record/decoder.js';
import { after } from 'node:test';
import { brokerClusterForFile, type BrokerCluster, type BrokerClusterOptions } from './broker-cluster.js';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.js';
import { until } from './cluster-helpers.js';
import { ERRORS, SluiceError } from '../../src/errors.js';

/**
 * A cluster for this test file whose brokers each reach etcd through their own TCP proxy
 * (`proxies`, by node id), so a test can cut one broker, or several, off from etcd alone.
 */
export function clusterBehindEtcdProxies(opts: BrokerClusterOptions): { cluster: () => BrokerCluster; proxies: Map<number, TcpProxy> } {
  const proxies = new Map<number, TcpProxy>();
  const env = brokerClusterForFile({
    ...opts,
    etcdUrlFor: async (nodeId, etcd) => {
      const p = await startTcpProxy(Number(new URL(etcd.url).port));
      proxies.set(nodeId, p);
      return p.url;
    },
  });
  after(async () => { await Promise.all([...proxies.values()].map((p) => p.close())); });
  return { cluster: () => env.cluster, proxies };
}

/** Partition 0 of `topic` as broker `nodeId` (or the first running one) sees it; undefined while unknown or unreachable. */
export async function partition0(cluster: BrokerCluster, topic: string, nodeId?: number): Promise<PartitionMetadata | undefined> {
  const md = await cluster.metadata(nodeId, [topic]).catch(() => undefined);
  const t = md?.topics[0];
  return t && !t.error ? t.partitionInfo?.[0] : undefined;
}

/**
 * Creates `topic` (1 partition, replication factor 3, minInsyncReplicas 2) and waits for a leader with all 3 in sync.
 * A retriable refusal is retried, as its `retriable` flag tells a caller to: a broker or etcd stalled for a few
 * seconds makes the broker answer ETCD_UNAVAILABLE ("etcd has not answered for 5013 ms") or
 * NOT_CONTROLLER, which is the right answer, not the test's failure (seen under
 * scripts/stall-run.mjs with 3 s freezes of etcd and broker 1). TOPIC_ALREADY_EXISTS after a
 * retry means an earlier attempt went through. Any other error fails at once.
 */
export async function createReplicated(cluster: BrokerCluster, topic: string, via = 1): Promise<PartitionMetadata> {
  let attempts = 0;
  await until(async () => {
    attempts++;
    const created = await cluster.request(via, Api.CreateTopics, { topics: [{ name: topic, partitions: 1, replicationFactor: 3, config: { minInsyncReplicas: 2 } }] });
    const err = created.topics[0]!.error;
    if (err === undefined) return true;
    const name = errorName(err.code);
    if (name === 'TOPIC_ALREADY_EXISTS' && attempts > 1) return true;
    assert.ok(ERRORS[name].retriable, JSON.stringify(created.topics[0]));
    return undefined;
  }, 30_000, `CreateTopics ${topic} answered without a retriable error`);
  return until(async () => {
    const p = await partition0(cluster, topic);
    return p && p.leader >= 0 && p.isr.length === 3 ? p : undefined;
  }, 30_000, `a leader of ${topic}-0 with 3 in sync`);
}

export type ProduceOutcome = { ok: true; baseOffset: number } | { ok: false; error: string };

/** One produce of `values` as one batch to broker `nodeId`; a wire error or a failed request is an outcome, never a throw. */
export async function produceTo(cluster: BrokerCluster, nodeId: number, topic: string, values: string[], acks: 1 | -1, timeoutMs = 10_000): Promise<ProduceOutcome> {
  try {
    const res = await cluster.broker(nodeId).client().request(Api.Produce, {
      acks, timeoutMs, partitions: [{ topic, partition: 0, records: encodeBatch(values.map((v) => ({ value: v }))) }],
    }, timeoutMs + 5000);
    const p = res.partitions[0]!;
    if (p.error && p.error.code !== 0) return { ok: false, error: errorName(p.error.code) };
    return { ok: true, baseOffset: p.baseOffset! };
  } catch (err) {
    return { ok: false, error: `request failed: ${(err as Error).message}` };
  }
}

/** An acknowledged batch; `retried`: an earlier attempt failed, and may have been stored too (no idempotence yet). */
export interface Acked { baseOffset: number; values: string[]; retried?: boolean }

/** Produces and insists on success (retrying for `timeoutMs` on any failure). */
export async function produceOk(cluster: BrokerCluster, nodeId: number, topic: string, values: string[], acks: 1 | -1, timeoutMs = 30_000): Promise<Acked> {
  let attempts = 0;
  const baseOffset = await until(async () => {
    attempts++;
    const r = await produceTo(cluster, nodeId, topic, values, acks);
    return r.ok ? r.baseOffset : undefined;
  }, timeoutMs, `${values[0]}.. acknowledged by broker ${nodeId}`);
  return attempts > 1 ? { baseOffset, values, retried: true } : { baseOffset, values };
}

/** The partition's (default 0) segment files of a (stopped) broker, concatenated in offset order. */
export function segmentBytes(dataDir: string, topic: string, partition = 0): Buffer {
  const dir = join(dataDir, `${topic}-${partition}`);
  const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  return Buffer.concat(logs.map((f) => readFileSync(join(dir, f))));
}

/** Every record of a (stopped) broker's replica, from its segment files: value by offset, in log order. */
export function recordsOnDisk(dataDir: string, topic: string, partition = 0): { offset: number; value: string }[] {
  const out: { offset: number; value: string }[] = [];
  for (const b of decodeBatches(segmentBytes(dataDir, topic, partition))) {
    for (const r of b.records) out.push({ offset: r.offset, value: r.value!.toString() });
  }
  return out;
}

/**
 * Stops every running broker (SIGTERM; already stopped ones are left alone, so it can be
 * called once per partition), then asserts that every replica of `partition` holds the same
 * bytes, and returns the records of that one log.
 */
export async function stopAndCompareReplicas(cluster: BrokerCluster, topic: string, partition = 0): Promise<{ offset: number; value: string }[]> {
  for (const b of cluster.brokers) await b.stop();
  const bytes = cluster.brokers.map((b) => segmentBytes(b.dataDir, topic, partition));
  assert.ok(bytes[0]!.length > 0, `the replicas of ${topic}-${partition} hold data`);
  bytes.forEach((b, i) => {
    assert.ok(b.equals(bytes[0]!), `${topic}-${partition}: broker ${i + 1}'s replica (${b.length} bytes) is byte-identical to broker 1's (${bytes[0]!.length} bytes)`);
  });
  return recordsOnDisk(cluster.brokers[0]!.dataDir, topic, partition);
}

/**
 * Asserts that each acknowledged batch (its values, at its acknowledged base offset) is in
 * `log` exactly there, in increasing offsets, and that a batch sent once appears nowhere else.
 * A batch sent again after a failed attempt (`retried`) may also sit where the failed attempt
 * was stored: without idempotence that is a legitimate duplicate, not a lost or moved record.
 */
export function assertAcknowledgedPresent(log: { offset: number; value: string }[], acked: Acked[]): void {
  const byOffset = new Map(log.map((r) => [r.offset, r.value]));
  const count = new Map<string, number>();
  for (const r of log) count.set(r.value, (count.get(r.value) ?? 0) + 1);
  for (let i = 1; i < log.length; i++) assert.ok(log[i]!.offset > log[i - 1]!.offset, `offsets increase at ${log[i]!.offset}`);
  for (const a of acked) {
    a.values.forEach((v, j) => {
      assert.equal(byOffset.get(a.baseOffset + j), v, `acknowledged ${v} at offset ${a.baseOffset + j}`);
      if (a.retried !== true) assert.equal(count.get(v), 1, `acknowledged ${v}, sent once, is in the log exactly once`);
    });
  }
}

/** The broker's log lines with `"event":"<event>"` (JSON lines; a broker logs one object per line). */
export function logEvents(logs: string, event: string): Record<string, unknown>[] {
  return logs.split('\n').filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** FindCoordinator at `nodeId`, retried while the coordinator topic is created or its partition has no leader. */
export async function findCoordinator(cluster: BrokerCluster, nodeId: number, group: string, timeoutMs = 60_000): Promise<{ nodeId: number; url?: string }> {
  return until(async () => {
    try {
      const res = await cluster.request(nodeId, Api.FindCoordinator, { key: group });
      return res.nodeId > 0 ? res : undefined;
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) return undefined;
      throw err;
    }
  }, timeoutMs, `FindCoordinator(${group}) at broker ${nodeId}`);
}

/** A batch `leaderFollowingProducer` got acknowledged: by which broker, and when. */
export interface LeaderAck extends Acked { broker: number; at: number }

/**
 * The fault tests' continuous producer: one acks=all batch of `batch` values at a time
 * (`<prefix>-<n>-<j>`) to partition 0's leader as it last knew it; on any failure it asks
 * Metadata again and retries the same values (`retried` marks a batch acknowledged after a
 * retry). Runs until `stop()`; `batches()` counts the batches begun.
 */
export function leaderFollowingProducer(
  cluster: BrokerCluster, topic: string, firstLeader: number,
  opts: { batch: number; prefix: string; onAck?: (a: LeaderAck) => void },
): { acked: LeaderAck[]; batches: () => number; stop: () => Promise<void> } {
  const acked: LeaderAck[] = [];
  let stopped = false;
  let n = 0;
  let leader = firstLeader;
  const run = (async () => {
    while (!stopped) {
      const values = Array.from({ length: opts.batch }, (_, j) => `${opts.prefix}-${n}-${j}`);
      n++;
      for (let attempts = 1; !stopped; attempts++) {
        const target = leader;
        const r = cluster.broker(target).running ? await produceTo(cluster, target, topic, values, -1, 5000) : undefined;
        if (r?.ok) {
          const a: LeaderAck = { broker: target, baseOffset: r.baseOffset, values, at: Date.now(), ...(attempts > 1 ? { retried: true } : {}) };
          acked.push(a);
          opts.onAck?.(a);
          break;
        }
        const p = await partition0(cluster, topic);
        if (p && p.leader >= 0) leader = p.leader;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  })();
  return { acked, batches: () => n, stop: async () => { stopped = true; await run; } };
}
