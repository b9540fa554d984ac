// Moving partitions between brokers (issue 14, docs/cluster.md "Moving data between brokers"),
// against a real etcd and four broker processes. Broker 4 is stopped while the topics are
// created, so they are placed on {1,2,3}, then started again: the "new broker" they move to.
// Tries to break: a move keeps every acknowledged acks=all write and ends with byte-identical
// target replicas and the removed replica's log gone; a leader outside the target hands over at
// a new epoch; a reassignment outlives a SIGKILLed controller; bad input is refused naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '../../src/client/admin.js';
import { Api, type PartitionMetadata } from '../../src/protocol/api.js';
import type { BrokerError } from '../../src/protocol/errors.js';
import { runCli } from '../integration/cli-process.js';
import { metricValue } from '../integration/broker-helpers.js';
import { brokerClusterForFile, type BrokerCluster } from './broker-cluster.js';
import { retriedWhileRetriable, until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { assertAcknowledgedPresent, leaderFollowingProducer, partition0, produceOk, recordsOnDisk, segmentBytes, type Acked } from './fault-helpers.js';

const TTL_MS = 6000;
/** Room for a loaded machine: a move of a few MB, a controller election, catch-up after a pause. */
const MOVE_MS = 90_000;
/** The reassignment throttle of every broker: the 2 MB move must take seconds, not the fraction of a second it takes unthrottled. */
const THROTTLE = 300_000;
/** A replica fetch answer's cap per partition (replica-fetcher.ts): the most the throttle lets through beyond its rate. */
const PARTITION_MAX_BYTES = 1024 * 1024;
const env = brokerClusterForFile({ brokers: 4, sessionTtlMs: TTL_MS, args: ['--reassignment-throttle-bytes-per-sec', String(THROTTLE)] });
const cluster = (): BrokerCluster => env.cluster;

const MOVED = 'moved';
const HANDOVER = 'handover';
const SURVIVOR = 'survivor';
const CANCELLED = 'cancelled';

async function createOn123(names: { name: string; rf: number }[]): Promise<void> {
  for (const { name, rf } of names) {
    const res = await cluster().request(1, Api.CreateTopics, { topics: [{ name, partitions: 1, replicationFactor: rf, config: { minInsyncReplicas: Math.min(2, rf) } }] });
    assert.equal(res.topics[0]!.error, undefined, JSON.stringify(res.topics[0]));
    await until(async () => {
      const p = await partition0(cluster(), name);
      return p && p.leader >= 0 && p.isr.length === rf ? p : undefined;
    }, 30_000, `${name}-0 with ${rf} in sync`);
  }
}

/** Resolves with the partition's metadata once it has exactly `replicas` (in order) and no reassignment runs. */
function untilMoved(topic: string, replicas: number[], via?: number): Promise<PartitionMetadata> {
  return until(async () => {
    const p = await partition0(cluster(), topic, via);
    return p && p.replicas.join(',') === replicas.join(',') && p.addingReplicas === undefined && p.isr.length === replicas.length ? p : undefined;
  }, MOVE_MS, `${topic}-0 on ${replicas.join(',')} with all in sync and no reassignment running`).catch(async (err: unknown) => {
    // What the brokers did, for the failure report.
    const p = await partition0(cluster(), topic, via).catch(() => undefined);
    const lines = cluster().brokers.map((b) => `--- broker ${b.nodeId}\n${b.logs().split('\n').filter((l) => l.includes(topic) || l.includes('controller')).slice(-15).join('\n')}`);
    throw new Error(`${(err as Error).message}; now ${JSON.stringify(p)}\n${lines.join('\n')}`, { cause: err });
  });
}

async function withAdmin<T>(nodeId: number, fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = new Admin({ brokers: [cluster().broker(nodeId).url] });
  try {
    await a.connect();
    return await fn(a);
  } finally {
    await a.close();
  }
}

function controllerOf(md: { controllerId?: number }): number {
  assert.ok(md.controllerId !== undefined && md.controllerId >= 0, 'a controller is known');
  return md.controllerId;
}

const acked: Acked[] = [];
/** Where the survivor test moved its partition. */
let survivorTarget: number[] = [];

test('setup: topics placed on brokers 1, 2 and 3 while broker 4 is down, then broker 4 starts', { skip: etcdTool.skip, timeout: 180_000 }, async () => {
  await cluster().broker(4).stop();
  await until(async () => ((await cluster().metadata(1)).brokers?.length === 3 ? true : undefined), 30_000, 'broker 4 gone from the directory');
  await createOn123([{ name: MOVED, rf: 3 }, { name: HANDOVER, rf: 3 }, { name: SURVIVOR, rf: 2 }, { name: CANCELLED, rf: 2 }]);
  // Data to move: about 2 MB in 200 acknowledged batches.
  const big = 'x'.repeat(200);
  for (let i = 0; i < 200; i++) {
    const leader = (await partition0(cluster(), MOVED))!.leader;
    acked.push(await produceOk(cluster(), leader, MOVED, Array.from({ length: 50 }, (_, j) => `pre-${i}-${j}-${big}`), -1));
  }
  await cluster().broker(4).restart();
  await until(async () => ((await cluster().metadata(1)).brokers?.length === 4 ? true : undefined), 30_000, 'broker 4 back in the directory');
});

test('an RF 3 partition with data moves from {1,2,3} to {1,2,4} under acks=all producing: nothing acknowledged is lost, broker 3 deletes its log', { skip: etcdTool.skip, timeout: 240_000 }, async () => {
  const before = (await partition0(cluster(), MOVED))!;
  assert.deepEqual([...before.replicas].sort(), [1, 2, 3]);
  const producer = leaderFollowingProducer(cluster(), MOVED, before.leader, { batch: 5, prefix: 'during', onAck: (a) => { acked.push(a); } });
  const bytes = segmentBytes(cluster().broker(1).dataDir, MOVED).length;
  let moveMs = 0;
  try {
    const started = Date.now();
    // Through broker 2: a broker that is not the controller forwards (unless it is the controller).
    await withAdmin(2, (a) => a.reassignPartitions([{ topic: MOVED, partition: 0, replicas: [1, 2, 4] }]));
    await untilMoved(MOVED, [1, 2, 4]);
    moveMs = Date.now() - started;
    // Some writes acknowledged after the move completed, at the (possibly new) leader.
    const ackedBefore = acked.length;
    await until(() => Promise.resolve(acked.length >= ackedBefore + 3 ? true : undefined), 60_000, 'acks=all writes after the move');
  } finally {
    await producer.stop();
  }
  assert.ok(producer.batches() > 3, `the producer kept producing during the move (${producer.batches()} batches)`);
  // The throttle: stalls only make a move slower, so a lower bound separates throttled from not
  // (unthrottled this move took 0.6 s on a loaded machine).
  const floorMs = ((bytes - PARTITION_MAX_BYTES) / THROTTLE) * 1000;
  assert.ok(moveMs >= floorMs, `moving ${bytes} bytes at ${THROTTLE} B/s took ${moveMs} ms, at least ${Math.round(floorMs)} ms expected`);
  // The metric of what the throttle did, on the broker it held back: it fetched the whole log
  // under the throttle and waited at least (those bytes - one answer) / rate.
  const throttled = await metricValue(cluster().broker(4).httpUrl, 'sluice_replication_throttled_bytes_total');
  const waited = await metricValue(cluster().broker(4).httpUrl, 'sluice_replication_throttle_wait_seconds_total');
  assert.ok(throttled >= bytes, `broker 4 counted ${throttled} throttled bytes, at least the ${bytes} it copied`);
  assert.ok(waited * 1000 >= floorMs, `broker 4 was held back ${waited} s, at least ${Math.round(floorMs)} ms expected`);
  await until(() => Promise.resolve(existsSync(join(cluster().broker(3).dataDir, `${MOVED}-0`)) ? undefined : true), 30_000, 'broker 3 deleted its replica of moved-0');
});

test('a leader outside the target hands over at once, before the added replica is in sync; elect-leaders then moves it to the preferred replica', { skip: etcdTool.skip, timeout: 180_000 }, async () => {
  const before = (await partition0(cluster(), HANDOVER))!;
  const target = [4, ...[1, 2, 3].filter((b) => b !== before.leader)];
  const ctl = controllerOf(await cluster().metadata(1));
  assert.notEqual(ctl, 4, 'broker 4 restarted last, so it is not the controller');
  // Broker 4 cannot copy anything while paused: the leadership must move without waiting for it.
  cluster().broker(4).pause();
  try {
    // In-process, at once: a paused broker stays known only until its lease expires.
    await withAdmin(1, (a) => a.reassignPartitions([{ topic: HANDOVER, partition: 0, replicas: target }]));
    const moved = await until(async () => {
      const p = await partition0(cluster(), HANDOVER, 1);
      return p && p.leader !== before.leader && p.leader !== -1 ? p : undefined;
    }, MOVE_MS, `the leadership of ${HANDOVER}-0 leaves broker ${before.leader}`);
    assert.deepEqual(moved.addingReplicas, [4], 'it moved while the reassignment still waits for broker 4');
    assert.ok(target.includes(moved.leader) && moved.leader !== 4, `an in-sync target replica leads (${moved.leader})`);
    assert.ok(moved.leaderEpoch > before.leaderEpoch, `a new epoch (${before.leaderEpoch} -> ${moved.leaderEpoch})`);
    // No preferred-leader election while the partition is being reassigned.
    const early = await runCli(cluster().broker(1).url, ['cluster', 'elect-leaders', '--topic', HANDOVER, '--partition', '0']);
    assert.equal(early.code, 1, early.stderr);
    assert.match(early.stderr, new RegExp(`${HANDOVER}-0: PREFERRED_LEADER_NOT_AVAILABLE: .*being reassigned`));
  } finally {
    cluster().broker(4).resume();
  }
  const after = await untilMoved(HANDOVER, target);
  assert.notEqual(after.leader, 4);
  const elect = await runCli(cluster().broker(2).url, ['cluster', 'elect-leaders', '--topic', HANDOVER, '--partition', '0']);
  assert.equal(elect.code, 0, elect.stderr);
  assert.match(elect.stderr, new RegExp(`elected the preferred leader of ${HANDOVER}-0: broker 4`));
  const led = await until(async () => {
    const p = await partition0(cluster(), HANDOVER, 1);
    return p?.leader === 4 ? p : undefined;
  }, 30_000, `broker 4 leads ${HANDOVER}-0`);
  assert.ok(led.leaderEpoch > after.leaderEpoch, `a new epoch (${after.leaderEpoch} -> ${led.leaderEpoch})`);
  const acks = await produceOk(cluster(), 4, HANDOVER, ['after-handover'], -1);
  assert.equal(acks.values.length, 1);
  const again = await runCli(cluster().broker(2).url, ['cluster', 'elect-leaders', '--topic', HANDOVER, '--partition', '0']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /preferred replica 4 leads already/);
});

test('a cancelled reassignment goes back to its original replicas: the leader hands back, the added broker deletes its log', { skip: etcdTool.skip, timeout: 180_000 }, async () => {
  const before = (await partition0(cluster(), CANCELLED))!;
  const ctl = controllerOf(await cluster().metadata(1));
  // Two brokers outside the original pair: one catches up (and leads: the leader is being
  // removed), the other is paused so the move cannot complete. The paused one is not the controller.
  const outside = [1, 2, 3, 4].filter((b) => !before.replicas.includes(b));
  const paused = outside.find((b) => b !== ctl)!;
  const other = outside.find((b) => b !== paused)!;
  for (let i = 0; i < 10; i++) await produceOk(cluster(), before.leader, CANCELLED, [`c-${i}`], -1);
  const via = [1, 2, 3, 4].find((b) => b !== paused)!;
  cluster().broker(paused).pause();
  try {
    await withAdmin(via, (a) => a.reassignPartitions([{ topic: CANCELLED, partition: 0, replicas: [other, paused] }]));
    const moved = await until(async () => {
      const p = await partition0(cluster(), CANCELLED, via);
      return p?.leader === other ? p : undefined;
    }, MOVE_MS, `broker ${other} in sync and leading ${CANCELLED}-0`);
    assert.ok(moved.addingReplicas?.includes(paused), 'still waiting for the paused broker');
    const cli = await runCli(cluster().broker(via).url, ['topic', 'reassign', CANCELLED, '--partition', '0', '--cancel']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, new RegExp(`cancelled the reassignment of ${CANCELLED}-0: back to [\\d,]+`));
    const back = await until(async () => {
      const p = await partition0(cluster(), CANCELLED, via);
      return p && p.addingReplicas === undefined && before.replicas.includes(p.leader) ? p : undefined;
    }, 30_000, `${CANCELLED}-0 back on ${before.replicas.join(',')}`);
    assert.deepEqual([...back.replicas].sort(), [...before.replicas].sort(), 'the original replicas');
    assert.ok(back.leaderEpoch > moved.leaderEpoch, `the leadership handed back at a new epoch (${moved.leaderEpoch} -> ${back.leaderEpoch})`);
    await until(() => Promise.resolve(existsSync(join(cluster().broker(other).dataDir, `${CANCELLED}-0`)) ? undefined : true), 30_000, `broker ${other} deleted its replica of ${CANCELLED}-0`);
    // Nothing left to cancel.
    await withAdmin(via, async (a) => {
      await assert.rejects(a.cancelPartitionReassignments([{ topic: CANCELLED, partition: 0 }]),
        (e: BrokerError) => e.code === 'NO_REASSIGNMENT_IN_PROGRESS' && /no reassignment is running/.test(e.message));
    });
    assert.equal((await produceOk(cluster(), back.leader, CANCELLED, ['after-cancel'], -1)).values.length, 1);
  } finally {
    cluster().broker(paused).resume();
  }
  // The paused broker never became a replica: it holds no log once it runs again.
  await until(async () => ((await cluster().metadata(paused).catch(() => undefined))?.brokers?.length === 4 ? true : undefined), 60_000, `broker ${paused} back`);
  assert.equal(existsSync(join(cluster().broker(paused).dataDir, `${CANCELLED}-0`)), false);
});

test('bad reassignments are refused naming what is wrong, through a broker that forwards them', { skip: etcdTool.skip, timeout: 120_000 }, async () => {
  const ctl = controllerOf(await cluster().metadata(1));
  const via = [1, 2, 3, 4].find((b) => b !== ctl)!;
  const refuse = async (topic: string, partition: number, replicas: number[], code: string, re: RegExp) => {
    await withAdmin(via, async (a) => {
      await assert.rejects(a.reassignPartitions([{ topic, partition, replicas }]), (e: BrokerError) => {
        assert.equal(e.code, code, e.message);
        assert.match(e.message, re);
        return true;
      });
    });
  };
  const cur = (await partition0(cluster(), MOVED))!.replicas;
  await refuse(MOVED, 0, [1, 2, 9], 'INVALID_REPLICA_ASSIGNMENT', /unknown broker 9/);
  await refuse(MOVED, 0, [1, 1, 2], 'INVALID_REPLICA_ASSIGNMENT', /broker 1 is listed more than once/);
  await refuse(MOVED, 0, [], 'INVALID_REPLICA_ASSIGNMENT', /replica list is empty/);
  await refuse('no-such-topic', 0, [1, 2], 'UNKNOWN_TOPIC_OR_PARTITION', /no-such-topic/);
  await refuse(MOVED, 7, [1, 2], 'UNKNOWN_TOPIC_OR_PARTITION', /moved'\/7/);
  assert.deepEqual((await partition0(cluster(), MOVED))!.replicas, cur, 'nothing changed');
  const cli = await runCli(cluster().broker(via).url, ['topic', 'reassign', MOVED, '--partition', '0', '--replicas', '1,2,x']);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /--replicas takes node ids separated by commas, not 'x'/);
});

test('a reassignment outlives a SIGKILLed controller: the next controller finishes it from etcd', { skip: etcdTool.skip, timeout: 240_000 }, async () => {
  const before = (await partition0(cluster(), SURVIVOR))!;
  const ctl = controllerOf(await cluster().metadata(1));
  // The added broker is paused, so the move cannot finish before the controller dies.
  const adding = [1, 2, 3, 4].find((b) => b !== ctl && !before.replicas.includes(b))!;
  const keep = before.replicas.find((b) => b !== ctl)!;
  const target = [keep, adding];
  survivorTarget = target;
  // Asked through a broker that stays up and unpaused throughout.
  const via = [1, 2, 3, 4].find((b) => b !== adding && b !== ctl)!;
  for (let i = 0; i < 20; i++) await produceOk(cluster(), before.leader, SURVIVOR, [`s-${i}`], -1);
  cluster().broker(adding).pause();
  try {
    // A retriable refusal (NOT_CONTROLLER: the controller moved while a stall held a broker or
    // etcd; the stall run's 3 s freezes) recorded nothing, so it is asked again.
    await retriedWhileRetriable('the reassignment recorded', () => withAdmin(via, async (a) => {
      await a.reassignPartitions([{ topic: SURVIVOR, partition: 0, replicas: target }]);
      return true;
    }));
    const running = await withAdmin(via, (a) => a.listPartitionReassignments([SURVIVOR]));
    assert.deepEqual(running.map((r) => [r.partition, r.addingReplicas]), [[0, [adding]]]);
    // A second reassignment of the same partition is refused while this one runs.
    await withAdmin(via, async (a) => {
      await assert.rejects(a.reassignPartitions([{ topic: SURVIVOR, partition: 0, replicas: before.replicas }]),
        (e: BrokerError) => e.code === 'REASSIGNMENT_IN_PROGRESS' && /already running/.test(e.message));
    });
    const status = await runCli('', ['cluster', 'status', '--etcd', cluster().etcd.url]);
    const row = new RegExp(`REASSIGNING[\\s\\S]*${SURVIVOR}\\s+0\\s+([\\d,]+)\\s+${target.join(',')}\\s+${adding}\\n`).exec(status.stdout);
    assert.ok(row, status.stdout);
    assert.deepEqual(row[1]!.split(',').map(Number).sort(), [...before.replicas].sort(), `FROM is the original replicas\n${status.stdout}`);
    const describe = await runCli(cluster().broker(via).url, ['topic', 'describe', SURVIVOR]);
    assert.match(describe.stdout, new RegExp(`REASSIGNING[\\s\\S]*adding ${adding}`), describe.stdout);
    await cluster().broker(ctl).kill();
    await until(async () => {
      const md = await cluster().metadata(via).catch(() => undefined);
      return md?.controllerId !== undefined && md.controllerId !== ctl && md.controllerId >= 0 ? true : undefined;
    }, TTL_MS + 30_000, 'a new controller');
  } finally {
    cluster().broker(adding).resume();
  }
  await untilMoved(SURVIVOR, target, via);
  await cluster().broker(ctl).restart();
});

test('the target replicas end byte-identical and hold every acknowledged write', { skip: etcdTool.skip, timeout: 120_000 }, async () => {
  // The restarted controller may hold a replica: it rejoins the ISR once caught up.
  const moved = await untilMoved(MOVED, [1, 2, 4]);
  const survivor = await untilMoved(SURVIVOR, survivorTarget);
  for (const b of cluster().brokers) await b.stop();
  const compare = (topic: string, replicas: number[]) => {
    const bytes = replicas.map((id) => segmentBytes(cluster().broker(id).dataDir, topic));
    assert.ok(bytes[0]!.length > 0);
    bytes.forEach((b, i) => assert.ok(b.equals(bytes[0]!), `${topic}: broker ${replicas[i]}'s replica (${b.length} bytes) is byte-identical to broker ${replicas[0]}'s (${bytes[0]!.length})`));
  };
  compare(MOVED, moved.replicas);
  compare(SURVIVOR, survivor.replicas);
  assertAcknowledgedPresent(recordsOnDisk(cluster().broker(4).dataDir, MOVED), acked);
});
