// The leader's ISR changes against a real etcd: a lagging follower is removed and a caught-up
// one added back, each written by compare-and-swap before it takes effect (the etcd key is
// read back, and sluice_isr_shrinks_total / _expands_total count them); a write that loses to
// a controller change is not applied, and the leader follows the controller's state instead.
// The leader's clock is the test's; follower progress comes from replica fetches the test
// reports; the Follower is a recording double (another part builds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterView } from '../../src/cluster/cluster-view.js';
import { ControllerElection } from '../../src/cluster/controller-election.js';
import { EtcdSession } from '../../src/cluster/etcd-session.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { casPartitionState, readPartitionState, type StoredPartitionState } from '../../src/cluster/partition-state-store.js';
import { moveAwayFrom } from '../../src/cluster/partition-state.js';
import { TopicAdmin } from '../../src/cluster/topic-admin.js';
import { createBrokerMetrics } from '../../src/metrics/broker-metrics.js';
import { ReplicaManager, Leadership, type PartitionStateSource } from '../../src/replication/replica-manager.js';
import { minInsyncReplicasOf, startReplication } from '../../src/replication/start-replication.js';
import { openLogManager } from '../../src/storage/log-manager.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { batchOf, tempDir } from '../storage/helpers.js';
import { RecordingFollower, TestClock } from '../replication/helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';
import { until } from './cluster-helpers.js';

const env = etcdForFile();
const LAG = 10_000;

type Listener = (topic: string, partition: number, state: StoredPartitionState | undefined) => void;

/** The view, with its events held back while `held` (a watch that has not delivered yet). */
class HeldView implements PartitionStateSource {
  held = false;
  private readonly seen = new Map<string, StoredPartitionState | undefined>();
  private readonly queue: Parameters<Listener>[] = [];
  private readonly listeners = new Set<Listener>();
  constructor(private readonly view: ClusterView) {
    view.on('partition', (t, p, s) => {
      if (this.held) this.queue.push([t, p, s]);
      else this.deliver(t, p, s);
    });
  }
  release(): void {
    this.held = false;
    for (const e of this.queue.splice(0)) this.deliver(...e);
  }
  private deliver(t: string, p: number, s: StoredPartitionState | undefined): void {
    this.seen.set(`${t}/${p}`, s);
    for (const l of this.listeners) l(t, p, s);
  }
  partition(topic: string, partition: number): StoredPartitionState | undefined {
    const k = `${topic}/${partition}`;
    return this.seen.has(k) ? this.seen.get(k) : this.view.partition(topic, partition);
  }
  partitions(): Iterable<StoredPartitionState> {
    return this.view.partitions();
  }
  on(_e: 'partition', fn: Listener): unknown { return this.listeners.add(fn); }
  off(_e: 'partition', fn: Listener): unknown { return this.listeners.delete(fn); }
}

async function setup(cluster: string, t: { after(fn: () => Promise<void>): void }, o: { realClock?: boolean } = {}) {
  const keys = new ClusterKeys(cluster);
  const session = await EtcdSession.open(env.client, { ttlMs: 5000 });
  t.after(() => session.close());
  const election = new ControllerElection(env.client, keys, session, 1);
  await election.campaign();
  await new TopicAdmin(env.client, keys, election, () => [1, 2, 3]).createTopic({ name: 't', partitions: 1, replicationFactor: 3 });
  const state = (await readPartitionState(env.client, keys, 't', 0))!;
  const me = state.state.leader;
  const [a, b] = state.state.replicas.filter((r) => r !== me);
  const view = await ClusterView.open(env.client, keys);
  const held = new HeldView(view);
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  await logs.createTopic('t', 1);
  const clock = new TestClock();
  const metrics = createBrokerMetrics({ collectDefault: false });
  const follower = new RecordingFollower();
  const rm = new ReplicaManager({
    nodeId: me, states: held, log: (topic, p) => logs.log(topic, p), follower,
    writeIsr: (expected, next) => casPartitionState(env.client, expected, next),
    sessionValid: () => session.isValid(), minInsyncReplicas: () => 2, metrics,
    ...(o.realClock === true ? { replicaLagTimeMs: 300 } : { replicaLagTimeMs: LAG, now: clock.now, isrTimer: false }),
  });
  metrics.collectReplication(() => rm.stats());
  t.after(async () => { await rm.stop(); await view.close(); await logs.close(); await cleanup(); });
  rm.start();
  await rm.settled();
  const l = rm.leaderFor('t', 0);
  assert.ok(l instanceof Leadership, 'this broker leads the new partition');
  const metric = async (name: string, labels: Record<string, string> = {}) => valueOf(parseExposition(await metrics.metricsText()), name, labels);
  const isrInEtcd = async () => (await readPartitionState(env.client, keys, 't', 0))!.state.isr;
  return { keys, me, a: a!, b: b!, rm, l, clock, held, follower, metric, isrInEtcd };
}

test('a lagging follower leaves the ISR (written to etcd first) and rejoins once caught up', { skip: etcdTool.skip }, async (t) => {
  const { me, a, b, rm, l, clock, metric, isrInEtcd } = await setup('isr-shrink-expand', t);
  await rm.append(l, batchOf(3, 0), false);
  rm.followerFetched(l, a, 3);
  assert.equal(l.highWatermark, 0, 'b has not fetched: the high watermark waits for it');
  assert.equal(await metric('sluice_replica_lag_messages', { topic: 't', partition: '0', replica: String(b) }), 3);
  assert.equal(await metric('sluice_replica_lag_messages', { topic: 't', partition: '0', replica: String(a) }), 0);

  clock.ms += LAG / 2;
  await rm.checkIsr();
  assert.equal((await isrInEtcd()).length, 3, 'nobody lagged for replicaLagTimeMs yet');
  clock.ms += LAG / 2 + 1;
  rm.followerFetched(l, a, 3); // a keeps up
  await rm.checkIsr();
  assert.deepEqual([...await isrInEtcd()].sort(), [me, a].sort(), 'b removed in etcd');
  assert.deepEqual([...l.progress.isr].sort(), [me, a].sort(), 'and then on the leader');
  assert.equal(l.highWatermark, 3, 'without b the high watermark moves to what a holds');
  assert.equal(await metric('sluice_isr_shrinks_total'), 1);
  assert.equal(await metric('sluice_under_replicated_partitions'), 1);

  rm.followerFetched(l, b, 3); // b caught up: it rejoins through etcd
  await until(async () => ((await isrInEtcd()).includes(b) ? true : undefined), 30_000, 'b back in the ISR in etcd');
  await until(async () => (l.progress.isr.includes(b) ? true : undefined), 30_000, 'b back in the ISR on the leader');
  // The watch may bring the write back before its compare-and-swap answers: the count follows that answer.
  await until(async () => ((await metric('sluice_isr_expands_total')) === 1 ? true : undefined), 30_000, 'the expansion to be counted');
  assert.equal(await metric('sluice_under_replicated_partitions'), 0);
  assert.equal(rm.isCurrent(l), true, 'the leader\'s own writes coming back through the watch change nothing else');
});

test('an ISR write that loses to a controller change is not applied; the leader follows the controller', { skip: etcdTool.skip }, async (t) => {
  const { keys, me, a, b, rm, l, clock, held, follower, metric, isrInEtcd } = await setup('isr-cas-lost', t);
  held.held = true; // the controller's change has not reached this broker's view yet
  const before = (await readPartitionState(env.client, keys, 't', 0))!;
  const moved = moveAwayFrom(before.state, me, new Set([me, a, b]))!;
  assert.ok(await casPartitionState(env.client, before, moved), 'the controller moves leadership away');

  clock.ms += LAG + 1;
  rm.followerFetched(l, a, 0);
  await rm.checkIsr(); // b lags: the leader tries to shrink with its old token
  const now = (await readPartitionState(env.client, keys, 't', 0))!.state;
  assert.deepEqual(now, moved, 'etcd holds the controller\'s state, untouched by the stale leader');
  assert.equal(await metric('sluice_isr_shrinks_total'), 0);
  assert.equal(l.progress.isr.length, 3, 'a lost write takes no effect');

  held.release();
  await until(async () => (rm.role('t', 0) === 'follower' ? true : undefined), 30_000, 'the leader to become a follower');
  assert.equal(rm.isCurrent(l), false);
  assert.deepEqual(follower.calls, [`follow t-0 leader ${moved.leader} epoch ${moved.leaderEpoch}`]);
  assert.deepEqual(await isrInEtcd(), moved.isr);
});

test('the ISR check runs on its own timer: silent followers are removed within a few replicaLagTimeMs', { skip: etcdTool.skip }, async (t) => {
  const { me, isrInEtcd, l } = await setup('isr-timer', t, { realClock: true });
  await until(async () => ((await isrInEtcd()).length === 1 ? true : undefined), 30_000, 'the ISR to shrink to the leader');
  assert.deepEqual(await isrInEtcd(), [me]);
  await until(async () => (l.progress.isr.length === 1 ? true : undefined), 30_000, 'the leader to apply it');
});

test('startReplication: states from the view, minInsyncReplicas from the topic config in etcd, replication metrics collected', { skip: etcdTool.skip }, async (t) => {
  const keys = new ClusterKeys('start-replication');
  const session = await EtcdSession.open(env.client, { ttlMs: 5000 });
  t.after(() => session.close());
  const election = new ControllerElection(env.client, keys, session, 1);
  await election.campaign();
  const admin = new TopicAdmin(env.client, keys, election, () => [1, 2, 3]);
  await admin.createTopic({ name: 't', partitions: 1, replicationFactor: 3, config: { minInsyncReplicas: 3 } });
  const me = (await readPartitionState(env.client, keys, 't', 0))!.state.leader;
  const view = await ClusterView.open(env.client, keys);
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  await logs.createTopic('t', 1);
  const metrics = createBrokerMetrics({ collectDefault: false });
  const woken: string[] = [];
  const rm = startReplication({
    nodeId: me, client: env.client, view, sessionValid: () => session.isValid(), logs, follower: new RecordingFollower(),
    replicaLagTimeMs: LAG, onHighWatermark: (topic, p) => { woken.push(`${topic}-${p}`); }, metrics,
  });
  t.after(async () => { await rm.stop(); await view.close(); await logs.close(); await cleanup(); });
  await rm.settled();
  const l = rm.leaderFor('t', 0);
  assert.ok(l instanceof Leadership, 'leads the partition whose state names it');
  assert.ok(woken.includes('t-0'));
  await rm.append(l, batchOf(2, 0), false);
  const [a, b] = (await readPartitionState(env.client, keys, 't', 0))!.state.replicas.filter((r) => r !== me);
  rm.followerFetched(l, a!, 2);
  assert.equal(rm.acksAll(l, 1), 'waiting', 'b has not fetched yet');
  rm.followerFetched(l, b!, 2);
  assert.equal(rm.acksAll(l, 1), 'done');
  const exp = parseExposition(await metrics.metricsText());
  assert.equal(valueOf(exp, 'sluice_replica_lag_messages', { topic: 't', partition: '0', replica: String(a) }), 0);
  // The topic asks for 3 in-sync replicas: once the controller drops a follower, acks=all is refused.
  const before = (await readPartitionState(env.client, keys, 't', 0))!;
  assert.ok(await casPartitionState(env.client, before, { ...before.state, isr: [me, a!] }));
  await until(async () => (l.progress.isr.length === 2 ? true : undefined), 30_000, 'the leader to apply the smaller ISR');
  assert.equal(rm.acksAll(l, 1), 'not-enough-replicas', 'minInsyncReplicas 3 from the topic config in etcd');
  assert.equal(minInsyncReplicasOf({ minInsyncReplicas: 2 }), 2);
  assert.equal(minInsyncReplicasOf({}), 1);
  assert.equal(minInsyncReplicasOf({ minInsyncReplicas: 'x' }), 1);
});
