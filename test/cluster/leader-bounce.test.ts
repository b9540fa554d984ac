// A leader SIGKILLed and restarted within its lease (chaos seed 67, docs/cluster.md "Failover"):
// three broker processes and a real etcd. The controller (broker 1, on a lease long enough to
// survive it) is SIGSTOPped across the bounce, so that it runs no pass between the leader's
// death and its re-registration: the race seed 67 lost, made certain. Then:
//   - the partition gets a new leader or a new leader epoch (the broker epoch tells the
//     controller the leader restarted: KIP-380), not the old leadership back;
//   - a consumer's ListOffsets LATEST, asked of the leader all along, never goes backwards:
//     the restarted broker starts its high watermark from its checkpoint
//     (replication-offset-checkpoint), and a leader whose high watermark is below its epoch
//     start says OFFSET_NOT_AVAILABLE instead of answering a lower offset (KIP-207);
//   - every acknowledged acks=all record is on every replica, at its offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Api, LATEST, type PartitionMetadata } from '../../src/protocol/api.js';
import { errorName } from '../../src/protocol/errors.js';
import { encodeBatch } from '../../src/record/encoder.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { HIGH_WATERMARK_CHECKPOINT_FILE, parseHighWatermarks } from '../../src/storage/high-watermark-checkpoint.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { until } from './cluster-helpers.js';
import { assertAcknowledgedPresent, logEvents, stopAndCompareReplicas, type Acked } from './fault-helpers.js';

const TOPIC = 'bounce';
const CONTROLLER = 1;
// Lease expiry of the killed leader (6 s) + its restart + the controller's pass, with room for a stalled machine.
const BOUND_MS = 60_000;
const env = brokerClusterForFile({
  brokers: 3,
  startInOrder: true, // broker 1 campaigns first: the controller
  // The controller is stopped for the bounce (about one 6 s lease and a restart): its own lease,
  // and its self-fence before it, must outlast that.
  argsFor: (id) => (id === CONTROLLER ? ['--etcd-session-ttl-ms', '60000'] : []),
});

interface Latest { at: number; broker: number; offset: number }

test('a leader SIGKILLed and restarted within its lease gets a new leader epoch or a new leader, and LATEST never goes backwards', { skip: etcdTool.skip, timeout: 300_000 }, async (t) => {
  const cluster = env.cluster;
  const md0 = await cluster.metadata();
  assert.equal(md0.controllerId, CONTROLLER, 'broker 1, started first, is the controller');
  const created = await cluster.request(2, Api.CreateTopics, { topics: [{ name: TOPIC, partitions: 3, replicationFactor: 3, config: { minInsyncReplicas: 2 } }] });
  assert.equal(created.topics[0]!.error, undefined, JSON.stringify(created.topics[0]));
  const infoAt = async (nodeId: number, p: number): Promise<PartitionMetadata | undefined> => {
    const md = await cluster.metadata(nodeId, [TOPIC]).catch(() => undefined);
    const tp = md?.topics[0];
    return tp && !tp.error ? tp.partitionInfo?.[p] : undefined;
  };
  // Leaders are spread: one partition is led by a broker other than the controller.
  const { partition, before } = await until(async () => {
    for (let p = 0; p < 3; p++) {
      const s = await infoAt(2, p);
      if (s && s.leader >= 0 && s.leader !== CONTROLLER && s.isr.length === 3) return { partition: p, before: s };
    }
    return undefined;
  }, BOUND_MS, 'a partition led by a broker other than the controller, all in sync');
  const leader = before.leader;
  const other = [2, 3].find((b) => b !== leader)!; // neither the leader nor the controller: always asked for metadata
  t.diagnostic(`partition ${partition}: leader ${leader} at epoch ${before.leaderEpoch}, controller ${CONTROLLER}, other ${other}`);

  // An acks=all producer and a LATEST poller, both at the leader Metadata names (asked of `other`).
  let stopped = false;
  let currentLeader = leader;
  const acked: Acked[] = [];
  const latest: Latest[] = [];
  const refreshLeader = async () => {
    const s = await infoAt(other, partition);
    if (s && s.leader >= 0) currentLeader = s.leader;
  };
  const produce = (async () => {
    for (let n = 0; !stopped; n++) {
      const values = Array.from({ length: 5 }, (_, j) => `b-${n}-${j}`);
      for (let attempt = 1; !stopped; attempt++) {
        const target = currentLeader;
        try {
          const res = await cluster.broker(target).client().request(Api.Produce, {
            acks: -1, timeoutMs: 3000, partitions: [{ topic: TOPIC, partition, records: encodeBatch(values.map((v) => ({ value: v }))) }],
          }, 8000);
          const r = res.partitions[0]!;
          if (!r.error || r.error.code === 0) {
            acked.push({ baseOffset: r.baseOffset!, values, ...(attempt > 1 ? { retried: true } : {}) });
            break;
          }
        } catch { /* a dead or stopped broker: ask Metadata again */ }
        await refreshLeader();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  const errors = new Map<string, number>();
  const poll = (async () => {
    while (!stopped) {
      const target = currentLeader;
      try {
        const res = await cluster.broker(target).client().request(Api.ListOffsets, { partitions: [{ topic: TOPIC, partition, timestamp: LATEST }] }, 5000);
        const r = res.partitions[0]!;
        if (r.error && r.error.code !== 0) {
          const name = errorName(r.error.code);
          errors.set(name, (errors.get(name) ?? 0) + 1);
          if (name !== 'OFFSET_NOT_AVAILABLE') await refreshLeader();
        } else {
          latest.push({ at: Date.now(), broker: target, offset: r.offset });
        }
      } catch {
        await refreshLeader();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    // The leader has checkpointed a high watermark past 0 (the file is written every 5 s).
    const checkpointFile = join(cluster.broker(leader).dataDir, HIGH_WATERMARK_CHECKPOINT_FILE);
    const checkpointed = await until(async () => {
      if (!existsSync(checkpointFile)) return undefined;
      const e = parseHighWatermarks(readFileSync(checkpointFile, 'utf8')).find((x) => x.topic === TOPIC && x.partition === partition);
      return e !== undefined && e.highWatermark > 0 ? e.highWatermark : undefined;
    }, BOUND_MS, `broker ${leader} to checkpoint a high watermark of ${TOPIC}-${partition}`);
    const seenBefore = Math.max(...latest.map((l) => l.offset));
    t.diagnostic(`checkpointed ${checkpointed}; LATEST answered up to ${seenBefore} before the bounce`);

    const etcd = new Etcd3({ hosts: cluster.etcd.url });
    t.after(() => { etcd.close(); });
    const registration = async () => (await etcd.get(new ClusterKeys('sluice').broker(leader)).exec()).kvs[0]?.create_revision;
    const firstLife = await registration();
    assert.ok(firstLife !== undefined);

    cluster.broker(CONTROLLER).pause();
    t.after(() => { if (cluster.broker(CONTROLLER).running) cluster.broker(CONTROLLER).resume(); });
    await cluster.broker(leader).kill();
    const restarted = cluster.broker(leader).restart();
    // Re-registered (its old lease expired, its new life is in etcd): only now the controller runs again.
    await until(async () => { const r = await registration(); return r !== undefined && r !== firstLife ? true : undefined; }, BOUND_MS, `broker ${leader} to register again`);
    cluster.broker(CONTROLLER).resume();
    await restarted;

    const after = await until(async () => {
      const s = await infoAt(other, partition);
      return s && s.leader >= 0 && (s.leader !== leader || s.leaderEpoch > before.leaderEpoch) ? s : undefined;
    }, BOUND_MS, `${TOPIC}-${partition} to get a new leader or a new epoch after broker ${leader} bounced (it was leader at epoch ${before.leaderEpoch})`);
    t.diagnostic(`after the bounce: leader ${after.leader} at epoch ${after.leaderEpoch}, ISR ${after.isr.join(',')}`);
    assert.ok(after.leaderEpoch > before.leaderEpoch, 'a new leadership has a new epoch');

    // The restarted process started its high watermark from the checkpoint, not from 0.
    const became = logEvents(cluster.broker(leader).logs(), 'replication.became-leader')
      .filter((e) => e.topic === TOPIC && e.partition === partition && e.epoch === before.leaderEpoch);
    const restartedAsLeader = became.at(-1);
    if (became.length > 1 && restartedAsLeader !== undefined) {
      assert.ok((restartedAsLeader.highWatermark as number) >= checkpointed, `the restarted leader's high watermark ${String(restartedAsLeader.highWatermark)} starts at the checkpoint ${checkpointed}`);
    }

    // LATEST answered by the new leadership, past everything answered before the bounce.
    await until(async () => (latest.some((l) => l.at > Date.now() - 1000 && l.offset >= seenBefore) ? true : undefined), BOUND_MS, 'LATEST answered again after the bounce');
  } finally {
    stopped = true;
    await Promise.all([produce, poll]);
  }
  t.diagnostic(`${latest.length} LATEST answers, refusals ${JSON.stringify(Object.fromEntries(errors))}, ${acked.length} batches acknowledged`);
  for (let i = 1; i < latest.length; i++) {
    const [a, b] = [latest[i - 1]!, latest[i]!];
    assert.ok(b.offset >= a.offset, `LATEST went back from ${a.offset} (broker ${a.broker}) to ${b.offset} (broker ${b.broker}) ${b.at - a.at} ms later`);
  }

  // Every replica in sync again, then identical, holding every acknowledged record at its offset.
  await until(async () => { const s = await infoAt(other, partition); return s && s.isr.length === 3 ? true : undefined; }, BOUND_MS, 'all three replicas back in the ISR');
  const log = await stopAndCompareReplicas(cluster, TOPIC, partition);
  assertAcknowledgedPresent(log, acked);
});
