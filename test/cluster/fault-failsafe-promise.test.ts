// Fault: the leader AND one follower cut off from etcd together (TCP proxies), the third broker
// still reaching it (docs/cluster.md, "Fencing": failsafe mode). This is the case a failsafe
// that trusted any answer would get wrong: the cut follower cannot see etcd either and grants
// the leader's failsafe checks, but the third broker sees etcd and refuses, so the cut leader
// stays fenced (no produce sent a TTL after the cut is acknowledged), the third broker is
// elected and acknowledges, and no write is acknowledged by both: every write the new leader
// acknowledged is in every replica once, and restored, both cut brokers rejoin byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { assertAcknowledgedPresent, clusterBehindEtcdProxies, createReplicated, logEvents, partition0, produceOk, produceTo, stopAndCompareReplicas, type Acked } from './fault-helpers.js';

const TTL_MS = 6000;
const STALL_MARGIN_MS = 20_000;
const TOPIC = 'two-cut';
const { cluster, proxies } = clusterBehindEtcdProxies({ brokers: 3, sessionTtlMs: TTL_MS });

test('leader and a follower cut from etcd together: the broker that sees etcd refuses the failsafe, the cut leader stays fenced, the third takes over, no write acknowledged by both', { skip: etcdTool.skip, timeout: 240_000 }, async () => {
  const first = await createReplicated(cluster(), TOPIC);
  const old = first.leader;
  const [cutFollower, third] = first.replicas.filter((b) => b !== old) as [number, number];
  const acked: Acked[] = [];
  for (let i = 0; i < 3; i++) acked.push(await produceOk(cluster(), old, TOPIC, [`before-${i}`], -1));

  const cutAt = Date.now();
  proxies.get(old)!.cut();
  proxies.get(cutFollower)!.cut();
  const lateFromOld: string[] = [];
  let n = 0;
  let newAcks = 0;
  const deadline = cutAt + TTL_MS + STALL_MARGIN_MS;
  while (Date.now() < deadline) {
    for (const acks of [-1, 1] as const) {
      const values = [`old-${acks}-${n++}`];
      const sentAt = Date.now();
      const r = await produceTo(cluster(), old, TOPIC, values, acks, 3000);
      if (r.ok && sentAt >= cutAt + TTL_MS) lateFromOld.push(values[0]!);
    }
    const p = await partition0(cluster(), TOPIC, third);
    if (p && p.leader === third) {
      // The ISR is the third broker alone until the cut ones are back: acks=1 is what it can acknowledge.
      const values = [`new-${n++}`];
      const r = await produceTo(cluster(), third, TOPIC, values, 1, 3000);
      if (r.ok) { acked.push({ baseOffset: r.baseOffset, values }); newAcks++; }
      if (newAcks >= 3 && Date.now() > cutAt + TTL_MS + 3000) break;
    }
  }
  assert.ok(newAcks >= 3, `the third broker ${third} was elected and acknowledged writes`);
  assert.deepEqual(lateFromOld, [], 'the cut leader acknowledged no produce sent a TTL after the cut');
  const oldLogs = cluster().broker(old).logs();
  assert.deepEqual(logEvents(oldLogs, 'replication.failsafe.on'), [], 'the cut leader never entered failsafe mode');
  const refusals = logEvents(oldLogs, 'replication.failsafe.not-granted').map((e) => String(e.reason));
  assert.ok(refusals.some((r) => r.includes(`refused by broker ${third}: broker ${third} reaches etcd`)), `the broker that sees etcd refused: ${refusals.join(' | ')}`);

  proxies.get(old)!.restore();
  proxies.get(cutFollower)!.restore();
  await until(async () => {
    const p = await partition0(cluster(), TOPIC, third);
    return p && p.leader === third && p.isr.length === 3 ? p : undefined;
  }, 90_000, 'both cut brokers back in the ISR');
  acked.push(await produceOk(cluster(), third, TOPIC, ['after-restore'], -1));

  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, acked);
});
