// A group coordinator that lost its partition must not answer for the group (docs/cluster.md,
// "Coordinators"; the chaos run of CI that saw committed offsets go back, seed 34). Etcd and
// three broker processes. The broker coordinating a group is paused (SIGSTOP) past its etcd
// lease with an OffsetFetch and an OffsetCommit queued in its socket; another broker becomes
// the coordinator and acknowledges a newer commit; the paused broker wakes up (SIGCONT) still
// holding the group in memory and a view that names it leader. It must refuse both queued
// requests (NOT_COORDINATOR: fenced by its lapsed session) rather than answer the offset from
// before the pause; and no broker answers an offset other than the newest acknowledged one.
// The same for a coordinator cut off from etcd (how the rerun of seed 34 showed it): running,
// it keeps the group in memory and its view, frozen without the watch, names it leader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../../src/client/connection.js';
import { SluiceError } from '../../src/errors.js';
import { Api } from '../../src/protocol/api.js';
import { errorName } from '../../src/protocol/errors.js';
import type { ResponseOf } from '../../src/protocol/api-table.js';
import type { BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { clusterBehindEtcdProxies, findCoordinator } from './fault-helpers.js';

// Each broker reaches etcd through its own proxy (for the cut); default TTL, as in the chaos run.
const { cluster: clusterOf, proxies } = clusterBehindEtcdProxies({ brokers: 3 });

/** Coordinator errors a client answers by finding the coordinator again. */
const MOVED = new Set(['NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE']);
const TOPIC = 't';

/** A simple-consumer commit (no member id) at `nodeId`, retried while that broker is not (yet) the loaded coordinator. */
async function commitAt(cluster: BrokerCluster, nodeId: number, group: string, offset: number): Promise<void> {
  await until(async () => {
    try {
      const res = await cluster.request(nodeId, Api.OffsetCommit, { groupId: group, partitions: [{ topic: TOPIC, partition: 0, offset }] });
      const err = res.partitions[0]!.error;
      if (err === undefined) return true;
      if (MOVED.has(errorName(err.code))) return undefined;
      throw new Error(`commit of ${offset} at broker ${nodeId}: ${JSON.stringify(err)}`);
    } catch (err) {
      if (err instanceof SluiceError && MOVED.has(err.code)) return undefined;
      throw err;
    }
  }, 60_000, `a commit of ${offset} acknowledged by broker ${nodeId}`);
}

/** Waits until FindCoordinator at a broker other than `old` names a coordinator other than `old`; returns it. */
async function movedFrom(cluster: BrokerCluster, old: number, group: string): Promise<number> {
  const other = cluster.brokers.find((x) => x.nodeId !== old)!.nodeId;
  return until(async () => {
    const c = await findCoordinator(cluster, other, group);
    return c.nodeId !== old ? c.nodeId : undefined;
  }, 90_000, `a coordinator of ${group} other than broker ${old}`);
}

/** What `nodeId` answers to OffsetFetch: the offset, or the error name. */
async function fetchAt(conn: Connection, group: string, timeoutMs?: number): Promise<number | string> {
  try {
    const res: ResponseOf<typeof Api.OffsetFetch> = await conn.request(Api.OffsetFetch, { groupId: group, partitions: [{ topic: TOPIC, partition: 0 }] }, timeoutMs);
    return res.partitions[0]!.offset;
  } catch (err) {
    if (err instanceof SluiceError) return err.code;
    throw err;
  }
}

test('a coordinator paused past its lease wakes up fenced: queued OffsetFetch/OffsetCommit get NOT_COORDINATOR, never the offsets from before the pause', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const cluster = clusterOf();
  const group = 'g-paused-coordinator';
  const old = (await findCoordinator(cluster, 1, group)).nodeId;
  await commitAt(cluster, old, group, 100);
  assert.equal(await fetchAt(cluster.broker(old).client(), group), 100);

  // A connection of its own with no pings: it must stay up through the pause, so the requests
  // below wait in the paused broker's socket and are read the moment it wakes.
  const direct = new Connection(cluster.broker(old).url, { pingIntervalMs: 0, requestTimeoutMs: 180_000 });
  t.after(() => direct.close());
  await direct.connect();
  const b = cluster.broker(old);
  b.pause();
  t.after(() => { if (b.running) b.resume(); });
  const staleFetch = fetchAt(direct, group);
  const staleCommit = direct.request(Api.OffsetCommit, { groupId: group, partitions: [{ topic: TOPIC, partition: 0, offset: 50 }] })
    .then((r) => (r.partitions[0]!.error ? errorName(r.partitions[0]!.error.code) : 'acknowledged'), (err: unknown) => (err instanceof SluiceError ? err.code : String(err)));

  // Its lease expires, the controller elects another leader of the group's partition, which
  // loads and acknowledges a newer commit.
  const next = await movedFrom(cluster, old, group);
  await commitAt(cluster, next, group, 200);
  assert.equal(await fetchAt(cluster.broker(next).client(), group), 200);

  b.resume();
  const fetched = await staleFetch;
  const committed = await staleCommit;
  assert.ok(typeof fetched === 'string' && MOVED.has(fetched),
    `the woken broker ${old} answered its queued OffsetFetch with ${fetched} (200 acknowledged by broker ${next}); it must refuse as no longer the coordinator`);
  assert.ok(MOVED.has(String(committed)), `the woken broker ${old} answered its queued OffsetCommit with ${committed}`);

  // Every broker answers either a coordinator error or the newest acknowledged offset; in the
  // end the group's coordinator (wherever it is) answers 200.
  for (const x of cluster.brokers) {
    const got = await fetchAt(x.client(), group);
    assert.ok(got === 200 || (typeof got === 'string' && MOVED.has(got)), `broker ${x.nodeId} answered ${got} after the wake-up`);
  }
  await until(async () => {
    const c = await findCoordinator(cluster, old, group);
    const got = await fetchAt(cluster.broker(c.nodeId).client(), group);
    if (typeof got === 'string' && MOVED.has(got)) return undefined;
    assert.equal(got, 200, `coordinator ${c.nodeId} after the wake-up`);
    return true;
  }, 60_000, 'the coordinator answering after the wake-up');
});

test('a coordinator cut off from etcd answers NOT_COORDINATOR once its lease lapsed, while its frozen view still names it leader', { skip: etcdTool.skip, timeout: 240_000 }, async (t) => {
  const cluster = clusterOf();
  const group = 'g-cut-coordinator';
  const old = (await findCoordinator(cluster, 1, group)).nodeId;
  await commitAt(cluster, old, group, 100);
  const proxy = proxies.get(old)!;
  proxy.cut();
  t.after(() => proxy.restore());
  const next = await movedFrom(cluster, old, group);
  await commitAt(cluster, next, group, 200);
  // Still cut: it has not heard of the move (its view is frozen), but its session lapsed.
  const got = await fetchAt(cluster.broker(old).client(), group);
  assert.ok(typeof got === 'string' && MOVED.has(got), `broker ${old}, cut from etcd, answered OffsetFetch with ${got} (200 acknowledged by broker ${next})`);
  const res = await cluster.request(old, Api.OffsetCommit, { groupId: group, partitions: [{ topic: TOPIC, partition: 0, offset: 50 }] })
    .then((r) => (r.partitions[0]!.error ? errorName(r.partitions[0]!.error.code) : 'acknowledged'), (err: unknown) => (err instanceof SluiceError ? err.code : String(err)));
  assert.ok(MOVED.has(res), `broker ${old}, cut from etcd, answered OffsetCommit with ${res}`);
  proxy.restore();
  await until(async () => {
    const c = await findCoordinator(cluster, old, group);
    const v = await fetchAt(cluster.broker(c.nodeId).client(), group);
    if (typeof v === 'string' && MOVED.has(v)) return undefined;
    assert.equal(v, 200, `coordinator ${c.nodeId} after the etcd link is back`);
    return true;
  }, 60_000, 'the coordinator answering after the etcd link is back');
});
