// A rejected job is never handed out again once its reject was answered, even when the broker
// dies before the job's dead-letter copy is written (docs/queue.md, "A record is archived only
// after its copy is written"). The copy is held back by the disk: a directory stands where
// the topic metadata's temp file goes (`topics.json.tmp`), so creating `jobs.dlq` fails (EISDIR)
// and the broker retries. The broker is SIGKILLed, restarted, and restarted again cleanly while
// the copy still cannot be written: the job stays held (in flight, not available, not
// dead-lettered) and no worker gets it. Once the file is gone the resumed copy is written,
// once, and the job is archived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Admin, Producer, QueueAdmin, QueueConsumer, type Job } from '../../src/client/index.js';
import { readDeadLetterHeaders } from '../../src/queue/dead-letter.js';
import { decodeBatches } from '../../src/record/index.js';
import { until } from '../cluster/cluster-helpers.js';
import { fetchFrom, metricValue } from './broker-helpers.js';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';

const GROUP = 'g-dlq-crash';
/** Waits until the broker's counter `name` of the group reached `n` (absent before its first count). */
async function counterReaches(httpUrl: string, name: string, n: number, timeoutMs = 60_000): Promise<void> {
  await until(async () => ((await metricValue(httpUrl, name, { group: GROUP }).catch(() => 0)) >= n ? true : undefined), timeoutMs, `${name} >= ${n}`);
}

const SETTINGS = { retryBackoffMs: 0, retryBackoffMaxMs: 0, maxDeliveries: 5, visibilityTimeoutMs: 30_000 };

test('a job whose reject was answered is not handed out again after a SIGKILL or a restart before its dead-letter copy; the copy is written once later', { timeout: 240_000 }, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('jobs', 1);
  await admin.close();
  // What keeps the copy from being written until the end of the test.
  const blocker = join(broker.dataDir, 'topics.json.tmp');
  mkdirSync(blocker);
  const send = async (values: string[]) => {
    const p = new Producer({ url: broker.url, acks: 'all' });
    await p.send('jobs', values.map((value) => ({ value })));
    await p.close();
  };
  await send(['poison', 'fine-0']);

  const w1 = new QueueConsumer({ url: broker.url, groupId: GROUP, topics: 'jobs', concurrency: 1, maxWaitMs: 500, settings: SETTINGS });
  const it = w1[Symbol.asyncIterator]();
  const first = (await it.next()).value as Job;
  assert.equal(first.value!.toString(), 'poison');
  await first.reject('bad json'); // answered: the broker holds the job for its copy
  const second = (await it.next()).value as Job;
  await second.ack();
  await counterReaches(broker.httpUrl, 'sluice_queue_dead_letter_failures_total', 1);

  const deliveries: string[] = [];
  /** A worker that acks all but records what it got; proves it is acquiring by acking `marker`. */
  const workUntil = async (marker: string): Promise<void> => {
    const w = new QueueConsumer({ url: broker.url, groupId: GROUP, topics: 'jobs', concurrency: 4, maxWaitMs: 500 });
    try {
      for await (const job of w) {
        const v = job.value!.toString();
        deliveries.push(`${v}@${job.deliveryCount}`);
        await job.ack();
        if (v === marker) break;
      }
    } finally {
      await w.close();
    }
  };
  const describe = async () => {
    const qa = new QueueAdmin({ url: broker.url });
    try {
      const d = await qa.describeGroup(GROUP);
      return { inFlight: d.inFlight, available: d.available, acked: d.acked, deadLettered: d.deadLettered };
    } finally {
      await qa.close();
    }
  };

  await broker.kill();
  await w1.close();
  await broker.restart();
  await send(['after-kill']);
  await workUntil('after-kill');
  assert.deepEqual(deliveries, ['after-kill@1'], 'after the SIGKILL: the rejected job is not handed to a worker again');
  assert.deepEqual(await describe(), { inFlight: 1, available: 0, acked: 2, deadLettered: 0 }, 'after the SIGKILL: held for its copy');
  // The restarted broker resumes the copy (and fails again: the directory is still there).
  assert.match(broker.logs(), /"event":"dead letters resumed","records":1/);
  await counterReaches(broker.httpUrl, 'sluice_queue_dead_letter_failures_total', 1);

  await broker.restart(); // SIGTERM, then start again: the hold is kept through a clean shutdown too
  await send(['after-restart']);
  await workUntil('after-restart');
  assert.deepEqual(deliveries, ['after-kill@1', 'after-restart@1'], 'after the restart: still not handed out');
  assert.deepEqual(await describe(), { inFlight: 1, available: 0, acked: 3, deadLettered: 0 }, 'after the restart: still held');
  await counterReaches(broker.httpUrl, 'sluice_queue_dead_letter_failures_total', 1);

  // The disk lets the topic be made: the tick's retry writes the copy and archives the job.
  rmSync(blocker, { recursive: true });
  await counterReaches(broker.httpUrl, 'sluice_queue_dead_lettered_total', 1);
  const d = await describe();
  assert.deepEqual(d, { inFlight: 0, available: 0, acked: 3, deadLettered: 1 }, 'archived once its copy is written');
  const c = await RawClient.connect(broker.url);
  t.after(() => c.close());
  const res = await fetchFrom(c, 'jobs.dlq', 0, 0);
  const copies = [...decodeBatches(Buffer.from(res.partitions[0].records))].flatMap((b) => b.records);
  assert.equal(copies.length, 1, 'one copy');
  assert.equal(copies[0]!.value!.toString(), 'poison');
  const h = readDeadLetterHeaders(copies[0]!.headers)!;
  assert.deepEqual([h.cause, h.reason, h.deliveryCount, h.offset], ['rejected', 'bad json', '1', '0'], 'the copy carries the reject as it was made before the crash');
});
