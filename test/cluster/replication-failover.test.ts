// Replication end to end: three broker processes and a real etcd. acks=all answers only once
// the in-sync replicas hold a batch, so a SIGKILLed leader loses nothing it acknowledged: the
// new leader serves every acknowledged record, and the killed broker, restarted, rejoins the
// ISR and ends with the same bytes as the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Api, type PartitionMetadata } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/encoder.js';
import { decodeBatches } from '../../src/record/decoder.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';

const TTL_MS = 6000;
const STALL_MARGIN_MS = 20_000;
const TOPIC = 'replicated';
const env = brokerClusterForFile({ brokers: 3, sessionTtlMs: TTL_MS });
const cluster = (): BrokerCluster => env.cluster;

async function partition0(nodeId?: number): Promise<PartitionMetadata | undefined> {
  const md = await cluster().metadata(nodeId, [TOPIC]).catch(() => undefined);
  const t = md?.topics[0];
  return t && !t.error ? t.partitionInfo?.[0] : undefined;
}

async function produce(nodeId: number, values: string[]): Promise<number> {
  const res = await cluster().request(nodeId, Api.Produce, {
    acks: -1, partitions: [{ topic: TOPIC, partition: 0, records: encodeBatch(values.map((v) => ({ value: v }))) }],
  });
  const p = res.partitions[0]!;
  if (p.error) throw new Error(`produce at broker ${nodeId}: ${p.error.message}`);
  return p.baseOffset!;
}

/** Every record value of partition 0 from its leader, from offset 0 to the high watermark. */
async function readAll(nodeId: number): Promise<string[]> {
  const out: string[] = [];
  for (let offset = 0; ;) {
    const res = await cluster().request(nodeId, Api.Fetch, {
      maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, partitions: [{ topic: TOPIC, partition: 0, offset, maxBytes: 1 << 20 }],
    });
    const p = res.partitions[0]!;
    if (p.error) throw new Error(`fetch at broker ${nodeId}: ${p.error.message}`);
    if (p.records.length === 0) return out;
    void 0;
    for (const b of decodeBatches(Buffer.from(p.records))) {
      for (const r of b.records) if (r.offset >= offset) out.push(r.value!.toString());
      offset = Number(b.header.baseOffset) + b.header.lastOffsetDelta + 1;
    }
  }
}

function segmentBytes(dataDir: string): Buffer {
  const dir = join(dataDir, `${TOPIC}-0`);
  const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  return Buffer.concat(logs.map((f) => readFileSync(join(dir, f))));
}

test('acks=all survives a SIGKILLed leader: the new leader has every acknowledged record; the old one rejoins with identical bytes', { skip: etcdTool.skip, timeout: 180_000 }, async () => {
  const created = await cluster().request(1, Api.CreateTopics, { topics: [{ name: TOPIC, partitions: 1, replicationFactor: 3, config: { minInsyncReplicas: 2 } }] });
  assert.equal(created.topics[0]!.error, undefined, JSON.stringify(created.topics[0]));
  const first = await until(async () => {
    const p = await partition0();
    return p && p.leader >= 0 && p.isr.length === 3 ? p : undefined;
  }, 30_000, 'a leader with 3 in sync');

  const acked: string[] = [];
  for (let i = 0; i < 40; i++) {
    const values = Array.from({ length: 10 }, (_, j) => `a-${i}-${j}`);
    const base = await until(() => produce(first.leader, values).catch(() => undefined), 30_000, `batch ${i} acknowledged`);
    assert.equal(base, acked.length, 'offsets follow one another');
    acked.push(...values);
  }

  const old = first.leader;
  await cluster().broker(old).kill();
  const other = cluster().brokers.find((b) => b.nodeId !== old)!.nodeId;
  const next = await until(async () => {
    const p = await partition0(other);
    return p && p.leader >= 0 && p.leader !== old ? p : undefined;
  }, TTL_MS + STALL_MARGIN_MS, 'a new leader');
  assert.ok(next.leaderEpoch > first.leaderEpoch, `epoch ${next.leaderEpoch} > ${first.leaderEpoch}`);
  assert.ok(first.isr.includes(next.leader), 'the new leader came from the ISR');

  // Everything acknowledged is on the new leader, once and in order.
  const afterFailover = await until(async () => {
    const v = await readAll(next.leader).catch(() => undefined);
    return v && v.length >= acked.length ? v : undefined;
  }, 30_000, 'the acknowledged records on the new leader');
  assert.deepEqual(afterFailover, acked);

  // Two replicas left, minInsyncReplicas 2: acks=all still goes through.
  for (let i = 0; i < 5; i++) {
    const values = Array.from({ length: 10 }, (_, j) => `b-${i}-${j}`);
    const base = await until(() => produce(next.leader, values).catch(() => undefined), 30_000, `batch b${i} acknowledged`);
    assert.equal(base, acked.length);
    acked.push(...values);
  }

  await cluster().broker(old).restart();
  await until(async () => {
    const p = await partition0(other);
    return p && p.isr.length === 3 ? p : undefined;
  }, 60_000, 'the restarted broker back in the ISR');
  assert.deepEqual(await readAll(next.leader), acked);

  // Stop every broker cleanly; every replica holds the same bytes.
  for (const b of cluster().brokers) await b.stop();
  const bytes = cluster().brokers.map((b) => segmentBytes(b.dataDir));
  assert.ok(bytes[0]!.length > 0);
  for (const b of bytes.slice(1)) assert.ok(b.equals(bytes[0]!), 'replicas are byte-identical');
});
