// Fault: split brain after re-registration (issue 13: "two brokers must never both acknowledge
// writes for one partition"; docs/cluster.md, "Fencing"). The leader is cut from etcd past its
// lease; another broker is elected and acknowledges acks=1 and acks=all writes. When the link is
// back the old leader opens a new session and re-registers: its session is valid again while
// its view, fed by a watch that was cut, still names it leader at the old epoch. acks=1
// produces sent to it without pause from before the restore until its view names the new
// leader must all be refused, and every acknowledged write is on every replica afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { assertAcknowledgedPresent, clusterBehindEtcdProxies, createReplicated, partition0, produceOk, produceTo, stopAndCompareReplicas, type Acked } from './fault-helpers.js';

const TTL_MS = 6000;
const TOPIC = 'stale-view';
/** Produce loops to the old leader running at once: more chances to land in the window. */
const LOOPS = 2;
const { cluster, proxies } = clusterBehindEtcdProxies({ brokers: 3, sessionTtlMs: TTL_MS });

test('a leader re-registered after an etcd cut acknowledges no acks=1 write until its view caught up; every acknowledged write is on every replica', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const first = await createReplicated(cluster(), TOPIC);
  const old = first.leader;
  const other = first.replicas.find((b) => b !== old)!;
  const acked: Acked[] = [await produceOk(cluster(), old, TOPIC, ['before-0', 'before-1'], -1)];

  const proxy = proxies.get(old)!;
  proxy.cut();
  t.after(() => proxy.restore());
  const next = await until(async () => {
    const p = await partition0(cluster(), TOPIC, other);
    return p && p.leader >= 0 && p.leader !== old ? p.leader : undefined;
  }, 90_000, `a leader of ${TOPIC}-0 other than broker ${old}`);
  acked.push(await produceOk(cluster(), next, TOPIC, ['new-all-0', 'new-all-1'], -1));
  acked.push(await produceOk(cluster(), next, TOPIC, ['new-one-0'], 1));
  // The old leader's view is frozen: it still names itself leader (the window this test is about).
  assert.equal((await partition0(cluster(), TOPIC, old))?.leader, old, `broker ${old}, cut from etcd, still names itself leader`);

  // acks=1 produces to the old leader without pause, from before the restore until its view
  // names another leader: the re-registration happens while they run.
  const fromOld: Acked[] = [];
  const refusals = new Map<string, number>();
  let caughtUp = false;
  let n = 0;
  const loop = async (): Promise<void> => {
    while (!caughtUp) {
      const values = [`old-${n++}`];
      const r = await produceTo(cluster(), old, TOPIC, values, 1, 3000);
      if (r.ok) fromOld.push({ baseOffset: r.baseOffset, values });
      else refusals.set(r.error, (refusals.get(r.error) ?? 0) + 1);
    }
  };
  const loops = Array.from({ length: LOOPS }, loop);
  proxy.restore();
  try {
    await until(async () => {
      const p = await partition0(cluster(), TOPIC, old);
      return p && p.leader !== old ? true : undefined;
    }, 90_000, `broker ${old}'s view naming another leader after the etcd link is back`);
  } finally {
    caughtUp = true;
    await Promise.all(loops);
  }
  assert.equal(fromOld.length, 0, `broker ${old} acknowledged ${fromOld.length} acks=1 writes after re-registering while broker ${next} led `
    + `(first: ${fromOld.slice(0, 3).map((a) => `${a.values[0]}@${a.baseOffset}`).join(', ')}; refusals: ${JSON.stringify([...refusals])})`);
  assert.ok(n > LOOPS, `produces were sent to broker ${old} across the reconnect (${n})`);

  await until(async () => {
    const p = await partition0(cluster(), TOPIC, next);
    return p && p.isr.length === 3 ? p : undefined;
  }, 60_000, 'the old leader back in the ISR');
  acked.push(await produceOk(cluster(), next, TOPIC, ['after-0'], -1));
  const log = await stopAndCompareReplicas(cluster(), TOPIC);
  assertAcknowledgedPresent(log, [...acked, ...fromOld]);
});
