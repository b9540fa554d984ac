// A broker that registered with a new broker epoch leads nothing until the controller handled
// that epoch (Kafka's KIP-380 fence; docs/cluster.md, "Failover"). Three broker processes and a
// real etcd; the controller (broker 1, on a lease long enough to survive it) is SIGSTOPped, so
// that the window between the new registration and the controller's pass stays open while the
// test probes it:
//   - a leader SIGKILLed and restarted within its lease;
//   - a leader SIGSTOPped past its lease and resumed: the same process re-registers.
// In the window, a produce (acks=1 or acks=all) and a consumer fetch at that broker are refused
// (NOT_LEADER_OR_FOLLOWER, or no connection: a restarted broker is not ready before it), never
// answered at the old leader epoch. Throughout, an acks=all producer and a Consumer run: every
// acknowledged record is on every replica at its offset afterwards, and every record the
// consumer read is still there at the offset it was read at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { Consumer } from '../../src/client/consumer.js';
import { Api, type PartitionMetadata } from '../../src/protocol/api.js';
import { errorName } from '../../src/protocol/errors.js';
import { encodeBatch } from '../../src/record/encoder.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { until } from './cluster-helpers.js';
import { assertAcknowledgedPresent, logEvents, stopAndCompareReplicas, type Acked } from './fault-helpers.js';

const TOPIC = 'fence';
const PARTITIONS = 3;
const CONTROLLER = 1;
// A lease expiry (6 s) + a restart + the controller's pass, with room for a stalled machine.
const BOUND_MS = 60_000;
const env = brokerClusterForFile({
  brokers: 3,
  startInOrder: true, // broker 1 campaigns first: the controller
  // The controller stays stopped across a lease expiry and a restart of another broker: its own
  // lease, and its self-fence before it, must outlast that.
  argsFor: (id) => (id === CONTROLLER ? ['--etcd-session-ttl-ms', '120000'] : []),
});

type Outcome = { ok: true; baseOffset: number } | { ok: false; error: string };

async function produceAt(cluster: BrokerCluster, nodeId: number, partition: number, values: string[], acks: 1 | -1, timeoutMs: number): Promise<Outcome> {
  try {
    const res = await cluster.broker(nodeId).client().request(Api.Produce, {
      acks, timeoutMs, partitions: [{ topic: TOPIC, partition, records: encodeBatch(values.map((value) => ({ value }))) }],
    }, timeoutMs + 5000);
    const r = res.partitions[0]!;
    return r.error && r.error.code !== 0 ? { ok: false, error: errorName(r.error.code) } : { ok: true, baseOffset: r.baseOffset! };
  } catch (err) {
    return { ok: false, error: `request failed: ${(err as Error).message}` };
  }
}

/** A consumer Fetch of `partition` at `nodeId` from offset 0: the error name, or 'served' with records. */
async function fetchAt(cluster: BrokerCluster, nodeId: number, partition: number): Promise<string> {
  try {
    const res = await cluster.broker(nodeId).client().request(Api.Fetch, {
      maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, partitions: [{ topic: TOPIC, partition, offset: 0, maxBytes: 1 << 20 }],
    }, 10_000);
    const r = res.partitions[0]!;
    return r.error && r.error.code !== 0 ? errorName(r.error.code) : 'served';
  } catch (err) {
    return `request failed: ${(err as Error).message}`;
  }
}

test('a broker that registered with a new epoch leads nothing until the controller handled it: restart within the lease, and re-registration after a pause', { skip: etcdTool.skip, timeout: 600_000 }, async (t) => {
  const cluster = env.cluster;
  assert.equal((await cluster.metadata()).controllerId, CONTROLLER, 'broker 1, started first, is the controller');
  const created = await cluster.request(2, Api.CreateTopics, { topics: [{ name: TOPIC, partitions: PARTITIONS, replicationFactor: 3, config: { minInsyncReplicas: 2 } }] });
  assert.equal(created.topics[0]!.error, undefined, JSON.stringify(created.topics[0]));
  const infoAt = async (nodeId: number, p: number): Promise<PartitionMetadata | undefined> => {
    if (!cluster.broker(nodeId).running) return undefined;
    const md = await cluster.metadata(nodeId, [TOPIC]).catch(() => undefined);
    const tp = md?.topics[0];
    return tp && !tp.error ? tp.partitionInfo?.[p] : undefined;
  };
  /** A partition led by a broker other than the controller, every replica in sync, as broker `askAt` sees it. */
  const pickVictim = (askAt: number) => until(async () => {
    for (let p = 0; p < PARTITIONS; p++) {
      const s = await infoAt(askAt, p);
      if (s && s.leader >= 0 && s.leader !== CONTROLLER && s.isr.length === 3) return { partition: p, before: s };
    }
    return undefined;
  }, BOUND_MS, 'a partition led by a broker other than the controller, all in sync');

  // Throughout: an acks=all producer per partition, following the leader Metadata names, and a
  // Consumer of every partition from offset 0.
  let stopped = false;
  const acked: Acked[][] = Array.from({ length: PARTITIONS }, () => []);
  const leaders = new Map<number, number>();
  const producers = Array.from({ length: PARTITIONS }, async (_, p) => {
    for (let n = 0; !stopped; n++) {
      const values = Array.from({ length: 5 }, (_x, j) => `p${p}-${n}-${j}`);
      for (let attempt = 1; !stopped; attempt++) {
        const target = leaders.get(p) ?? 2;
        const r = cluster.broker(target).running ? await produceAt(cluster, target, p, values, -1, 3000) : undefined;
        if (r?.ok) {
          acked[p]!.push({ baseOffset: r.baseOffset, values, ...(attempt > 1 ? { retried: true } : {}) });
          break;
        }
        for (const asked of [3, 2]) {
          const s = await infoAt(asked, p);
          if (s && s.leader >= 0) { leaders.set(p, s.leader); break; }
        }
        await new Promise((r2) => setTimeout(r2, 50));
      }
    }
  });
  const consumed: { offset: number; value: string }[][] = Array.from({ length: PARTITIONS }, () => []);
  const consumer = new Consumer({ brokers: cluster.brokers.map((b) => b.url), autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await consumer.assign(TOPIC);
  const consuming = consumer.run({
    eachBatch: (b) => { for (const m of b.messages) consumed[b.partition]!.push({ offset: m.offset, value: m.value!.toString() }); },
  });

  const etcd = new Etcd3({ hosts: cluster.etcd.url });
  t.after(() => { etcd.close(); });
  const registration = async (nodeId: number) => (await etcd.get(new ClusterKeys('sluice').broker(nodeId)).exec()).kvs[0]?.create_revision;

  /**
   * The window: broker `victim`, leader of `partition` at `epoch` before it re-registered, is
   * probed until its log says it applied that leadership without taking it (or, without the
   * fence, until a probe is answered as leader: the failure). Then it is probed once more.
   */
  const probeWindow = async (victim: number, partition: number, epoch: number, logFrom: number, tag: string) => {
    const refusals = new Map<string, number>();
    const refused = (what: string, outcome: string) => { refusals.set(`${what} ${outcome}`, (refusals.get(`${what} ${outcome}`) ?? 0) + 1); };
    const probe = async (n: number) => {
      for (const acks of [1, -1] as const) {
        const r = await produceAt(cluster, victim, partition, [`${tag}-probe-${n}-acks${acks}`], acks, 2000);
        assert.ok(!r.ok, `broker ${victim} acknowledged a produce (acks=${acks}) of ${TOPIC}-${partition} at offset ${r.ok ? r.baseOffset : -1} after it registered again, before the controller handled its new broker epoch (it led at epoch ${epoch})`);
        refused(`produce acks=${acks}`, r.error.replace(/:.*/, ''));
      }
      const f = await fetchAt(cluster, victim, partition);
      assert.notEqual(f, 'served', `broker ${victim} served a consumer fetch of ${TOPIC}-${partition} as its leader before the controller handled its new broker epoch`);
      refused('fetch', f.replace(/:.*/, ''));
    };
    let n = 0;
    await until(async () => {
      await probe(n++);
      const lines = cluster.broker(victim).logs().slice(logFrom);
      return logEvents(lines, 'replication.leadership-fenced').some((e) => e.topic === TOPIC && e.partition === partition && e.epoch === epoch) ? true : undefined;
    }, BOUND_MS, `broker ${victim} to apply its leadership of ${TOPIC}-${partition} at epoch ${epoch} as fenced`);
    await probe(n++);
    t.diagnostic(`${tag}: ${n} probes of broker ${victim} in the window, all refused: ${JSON.stringify(Object.fromEntries(refusals))}`);
  };

  /** After the controller ran again: a new leadership of `partition`, every replica back in sync. */
  const afterWindow = async (victim: number, partition: number, before: PartitionMetadata, tag: string) => {
    const other = [2, 3].find((b) => b !== victim)!;
    const after = await until(async () => {
      const s = await infoAt(other, partition);
      return s && s.leader >= 0 && s.leaderEpoch > before.leaderEpoch ? s : undefined;
    }, BOUND_MS, `${TOPIC}-${partition} to get a new leader epoch after broker ${victim} re-registered (it led at epoch ${before.leaderEpoch})`);
    t.diagnostic(`${tag}: leader ${after.leader} at epoch ${after.leaderEpoch}, ISR ${after.isr.join(',')}`);
    await until(async () => { const s = await infoAt(other, partition); return s && s.isr.length === 3 ? true : undefined; }, BOUND_MS, `${TOPIC}-${partition}: all three replicas back in the ISR`);
    // The producers and the consumer go on at the new leadership.
    const ackedNow = acked[partition]!.length;
    const readNow = consumed[partition]!.length;
    await until(async () => (acked[partition]!.length > ackedNow && consumed[partition]!.length > readNow ? true : undefined), BOUND_MS, `${TOPIC}-${partition}: produce and consume going on after the window`);
  };

  try {
    // 1. SIGKILL and an immediate restart, within the lease.
    {
      const { partition, before } = await pickVictim(2);
      const victim = before.leader;
      leaders.set(partition, victim);
      await until(async () => (acked[partition]!.length > 2 && consumed[partition]!.length > 0 ? true : undefined), BOUND_MS, 'records produced and consumed before the bounce');
      t.diagnostic(`restart: ${TOPIC}-${partition} led by ${victim} at epoch ${before.leaderEpoch}`);
      const firstLife = await registration(victim);
      cluster.broker(CONTROLLER).pause();
      t.after(() => { if (cluster.broker(CONTROLLER).running) cluster.broker(CONTROLLER).resume(); });
      const logFrom = cluster.broker(victim).logs().length;
      await cluster.broker(victim).kill();
      const restarted = cluster.broker(victim).restart();
      restarted.catch(() => undefined); // awaited below; a failure meanwhile is reported there
      await until(async () => { const r = await registration(victim); return r !== undefined && r !== firstLife ? true : undefined; }, BOUND_MS, `broker ${victim} to register again`);
      await probeWindow(victim, partition, before.leaderEpoch, logFrom, 'restart');
      cluster.broker(CONTROLLER).resume();
      await restarted;
      await afterWindow(victim, partition, before, 'restart');
    }
    // 2. The same process, SIGSTOPped past its lease and resumed: it re-registers.
    {
      const { partition, before } = await pickVictim(3);
      const victim = before.leader;
      leaders.set(partition, victim);
      t.diagnostic(`pause: ${TOPIC}-${partition} led by ${victim} at epoch ${before.leaderEpoch}`);
      const firstLife = await registration(victim);
      cluster.broker(CONTROLLER).pause();
      const logFrom = cluster.broker(victim).logs().length;
      cluster.broker(victim).pause();
      // Its lease expired: etcd deleted its registration.
      await until(async () => ((await registration(victim)) === undefined ? true : undefined), BOUND_MS, `broker ${victim}'s lease to expire`);
      cluster.broker(victim).resume();
      await until(async () => { const r = await registration(victim); return r !== undefined && r !== firstLife ? true : undefined; }, BOUND_MS, `broker ${victim} to register again`);
      await probeWindow(victim, partition, before.leaderEpoch, logFrom, 'pause');
      cluster.broker(CONTROLLER).resume();
      await afterWindow(victim, partition, before, 'pause');
    }
  } finally {
    stopped = true;
    await Promise.all(producers);
    await consumer.close();
    await consuming.catch(() => undefined);
  }
  t.diagnostic(`acknowledged batches ${acked.map((a) => a.length).join(',')}, records consumed ${consumed.map((c) => c.length).join(',')}`);
  // Every partition's replicas in sync again before they are stopped and compared: the windows
  // wait for the probed partition's ISR only, and a replica of another one that fell out of its
  // ISR meanwhile (the paused victim) may still be catching up (seen on a clean-clone CI run:
  // fence-2's replica on the victim 584 bytes short of broker 1's).
  for (let p = 0; p < PARTITIONS; p++) {
    await until(async () => { const s = await infoAt(1, p); return s && s.isr.length === 3 ? true : undefined; }, BOUND_MS, `${TOPIC}-${p}: all three replicas in the ISR before the comparison`);
  }
  for (let p = 0; p < PARTITIONS; p++) {
    const log = await stopAndCompareReplicas(cluster, TOPIC, p);
    assertAcknowledgedPresent(log, acked[p]!);
    const byOffset = new Map(log.map((r) => [r.offset, r.value]));
    for (const c of consumed[p]!) assert.equal(byOffset.get(c.offset), c.value, `${TOPIC}-${p}: the consumer read ${c.value} at offset ${c.offset}; it is still there`);
  }
});
