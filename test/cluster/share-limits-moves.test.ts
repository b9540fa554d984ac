// Group-wide limits (issue 15; docs/queue.md, "Group-wide limits") across the SIGKILL of the
// broker coordinating the share group: etcd + three broker processes. Limits set by `sluice
// queue alter` are the group's at the next coordinator (replayed from its config record in
// `__share_state`) and still hold there: rate and jobs held at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import type { Job } from '../../src/client/queue-job.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { until } from './cluster-helpers.js';
import { etcdTool } from './etcd-process.js';
import { coordinatorFirst, killCoordinator, queueAcrossMoves } from './share-helpers.js';
import { runCli } from '../integration/cli-process.js';

const env = brokerClusterForFile({ brokers: 3 });

test('group limits set by `sluice queue alter` are the group\'s at the next coordinator and still hold there', { skip: etcdTool.skip, timeout: 300_000 }, async (t) => {
  const cluster = env.cluster;
  const group = 'q-limits-move';
  const topic = 'limits-move-jobs';
  const RATE = 10;
  const MAX_IN_FLIGHT = 3;
  const { first, admin, producer } = await queueAcrossMoves(t, cluster, group, topic, 3);
  // The group exists (with no limit) before the alter: a reset creates it with the broker's defaults.
  await admin.resetOffsets(group, topic, 'earliest');
  const cli = await runCli(cluster.broker(first === 1 ? 2 : 1).url, ['queue', 'alter', group, '--rate', String(RATE), '--max-in-flight', String(MAX_IN_FLIGHT)]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, new RegExp(`rate ${RATE}/s, max in flight ${MAX_IN_FLIGHT}`));

  await producer.send(topic, Array.from({ length: 600 }, (_, i) => ({ value: `j-${i}`, partition: i % 3 })));

  // Four workers that could take 32 jobs at once and hundreds a second: the limits hold them.
  const starts: number[] = [];
  let running = 0;
  let mostRunning = 0;
  let mostRunningAfter = 0;
  let moved = false;
  const handler = async (job: Job): Promise<void> => {
    starts.push(Date.now());
    running++;
    mostRunning = Math.max(mostRunning, running);
    if (moved) mostRunningAfter = Math.max(mostRunningAfter, running);
    // A job stops counting once its handler acks it: the coordinator frees its place when it
    // applies the ack, and may hand the place out (an acquire's answer waits for no fsync)
    // before the ack's own answer, which waits for its fsync, reaches this worker.
    let counted = true;
    try {
      await new Promise((r) => setTimeout(r, 30));
      running--;
      counted = false;
      await job.ack();
    } finally {
      if (counted) running--;
    }
  };
  const workers = [0, 1, 2, 3].map((i) => new QueueConsumer({
    brokers: coordinatorFirst(cluster, first), groupId: group, topics: topic, workerId: `w${i}`, concurrency: 8, maxWaitMs: 500, retryBackoffMs: 100,
  }));
  const runs = workers.map((w) => w.run(handler).catch(() => undefined));
  t.after(async () => { await Promise.all(workers.map((w) => w.close().catch(() => {}))); await Promise.all(runs); });
  await until(async () => (starts.length >= 20 ? true : undefined), 60_000, '20 jobs started at the first coordinator');
  assert.ok(mostRunning <= MAX_IN_FLIGHT, `${mostRunning} jobs ran at once at the first coordinator (limit ${MAX_IN_FLIGHT})`);

  const { old, movedAt } = await killCoordinator(cluster, admin, group);
  const d = await admin.describeGroup(group);
  assert.deepEqual({ rateLimit: d.settings.rateLimit, maxInFlight: d.settings.maxInFlight }, { rateLimit: RATE, maxInFlight: MAX_IN_FLIGHT }, 'the new coordinator has the altered limits');
  // Jobs handed out by the old coordinator just before its kill may still run; from the first
  // start at the new one (each job takes 30 ms, the failover seconds) only its hand-outs run.
  const startsBefore = starts.length;
  await until(async () => (starts.length > startsBefore ? true : undefined), 60_000, 'a job started at the new coordinator');
  const t1 = starts[startsBefore]!;
  moved = true;
  mostRunningAfter = running;
  await until(async () => (Date.now() - t1 >= 4000 ? true : undefined), 30_000, 'a measured span of 4 s');
  const span = Date.now() - t1;
  const n = starts.filter((s) => s >= t1).length;
  const d2 = await admin.describeGroup(group);
  console.log(`limits across the SIGKILL of share coordinator ${old} (now ${d2.coordinator}): ${n} jobs started in ${span} ms after the move (${movedAt - t1} ms), most running ${mostRunningAfter}`);
  // A bucket of one second plus RATE a second of the span (slack for the tick at its edge);
  // without the limit four workers start hundreds a second here.
  assert.ok(n <= RATE + (RATE * span) / 1000 + 5, `${n} jobs started in ${span} ms at rate ${RATE}/s`);
  assert.ok(n >= 5, `the queue kept going after the move: ${n} jobs in ${span} ms`);
  assert.ok(mostRunningAfter <= MAX_IN_FLIGHT, `${mostRunningAfter} jobs ran at once after the move (limit ${MAX_IN_FLIGHT})`);
  assert.ok(d2.inFlight <= MAX_IN_FLIGHT, `the group holds ${d2.inFlight} (limit ${MAX_IN_FLIGHT})`);
});
