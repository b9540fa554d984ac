// Fault: the leader cut off from etcd only (issue 13, "Tests"): a TCP proxy between each broker
// and etcd, and the test cuts the leader's. The leader still reaches its followers and the
// clients. Tries to break the fence (docs/cluster.md, "Fencing: never two leaders
// acknowledging"): the cut broker must stop acknowledging writes within the session TTL
// (no produce sent after cut + TTL succeeds there), a new leader is elected, and no write
// acknowledged by either broker is lost. Restored, the old leader rejoins as a follower.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { assertAcknowledgedPresent, clusterBehindEtcdProxies, createReplicated, partition0, produceOk, produceTo, stopAndCompareReplicas } from './fault-helpers.js';

const TTL_MS = 6000;
const STALL_MARGIN_MS = 20_000;
const TOPIC = 'cut-off';
const { cluster, proxies } = clusterBehindEtcdProxies({ brokers: 3, sessionTtlMs: TTL_MS });

interface Ack { broker: number; baseOffset: number; values: string[]; sentAt: number; retried?: boolean }

test('a leader cut off from etcd stops acknowledging within the TTL, another is elected, no acknowledged write is lost, and the old one rejoins', { skip: etcdTool.skip, timeout: 240_000 }, async () => {
  const first = await createReplicated(cluster(), TOPIC);
  const old = first.leader;
  const others = first.replicas.filter((b) => b !== old);
  const acked: Ack[] = [];
  let n = 0;
  const send = async (broker: number): Promise<void> => {
    const values = Array.from({ length: 5 }, (_, j) => `v-${n}-${j}`);
    n++;
    const sentAt = Date.now();
    const r = await produceTo(cluster(), broker, TOPIC, values, -1, 3000);
    if (r.ok) acked.push({ broker, baseOffset: r.baseOffset, values, sentAt });
  };
  for (let i = 0; i < 5; i++) {
    const values = Array.from({ length: 5 }, (_, j) => `before-${i}-${j}`);
    acked.push({ broker: old, ...await produceOk(cluster(), old, TOPIC, values, -1), sentAt: Date.now() });
  }

  const cutAt = Date.now();
  proxies.get(old)!.cut();
  // Keep writing to both sides: the old leader (which still reaches its followers) and
  // whoever the other brokers name as leader, until a new leader acknowledged writes.
  let next: number | undefined;
  const deadline = cutAt + TTL_MS + STALL_MARGIN_MS;
  // acks=1 writes too: they need no follower, so only the self-fence can refuse them.
  const ackedOne: { sentAt: number; values: string[] }[] = [];
  while (Date.now() < deadline) {
    await send(old);
    const values = [`one-${n++}`];
    const sentAt = Date.now();
    if ((await produceTo(cluster(), old, TOPIC, values, 1, 3000)).ok) ackedOne.push({ sentAt, values });
    const p = await partition0(cluster(), TOPIC, others[0]);
    if (p && p.leader >= 0 && p.leader !== old) {
      next = p.leader;
      await send(next);
      if (acked.some((a) => a.broker === next) && Date.now() > cutAt + TTL_MS) break;
    }
  }
  assert.ok(next !== undefined, 'a new leader was elected');
  assert.ok(acked.some((a) => a.broker === next), `the new leader ${next} acknowledged writes`);
  const lateFromOld = acked.filter((a) => a.broker === old && a.sentAt >= cutAt + TTL_MS);
  assert.deepEqual(lateFromOld.map((a) => a.values[0]), [], 'the cut broker acknowledged no produce sent a TTL after the cut');
  assert.deepEqual(ackedOne.filter((a) => a.sentAt >= cutAt + TTL_MS).map((a) => a.values[0]), [], 'the cut broker acknowledged no acks=1 produce sent a TTL after the cut');
  // One more of each to the old leader, long after the TTL: refused.
  for (const acks of [-1, 1] as const) {
    const late = await produceTo(cluster(), old, TOPIC, [`late-${acks}`], acks, 3000);
    assert.equal(late.ok, false, `the cut broker refuses acks=${acks} writes`);
  }

  proxies.get(old)!.restore();
  await until(async () => {
    const p = await partition0(cluster(), TOPIC, next);
    return p && p.isr.length === 3 ? p : undefined;
  }, 60_000, 'the old leader back in the ISR');
  await send(next);

  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, acked);
});
