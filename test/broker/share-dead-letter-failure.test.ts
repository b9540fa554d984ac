// A record is archived only once its dead-letter copy is durably appended. When the copy
// cannot be written (here: the disk refuses to create the dead-letter topic's directory) the
// reject is still accepted, the failure is logged at error and counted, the record is not
// archived (not in memory, not in the state log), a restart holds it again for its copy
// (never handed to a worker), and once the disk works again the broker's own retry writes the
// copy once and archives the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAck } from '../../src/broker/handle-share-ack.js';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { createLogger } from '../../src/broker/logger.js';
import { partitionKey } from '../../src/broker/purgatory.js';
import { ShareCoordinators, shareServiceFor, stopShareService } from '../../src/broker/share-coordinators.js';
import type { BrokerContext } from '../../src/broker/context.js';
import { NoopBrokerMetrics } from '../../src/metrics/noop-broker-metrics.js';
import { Api } from '../../src/protocol/api.js';
import { deadLetterRecord, readDeadLetterHeaders } from '../../src/queue/dead-letter.js';
import { decodeBatches, encodeBatch } from '../../src/record/index.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { until } from '../cluster/cluster-helpers.js';
import { shareJobsContext } from './test-context.js';

class CountingMetrics extends NoopBrokerMetrics {
  failed = 0;
  written = 0;
  override deadLetterFailed(_group: string, n: number): void {
    this.failed += n;
  }
  override deadLettered(_group: string, n: number): void {
    this.written += n;
  }
}

async function acquire(ctx: BrokerContext) {
  const res = await handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords: 10, maxWaitMs: 0,
    settings: { maxDeliveries: 5, retryBackoffMs: 0 },
  });
  return res.partitions.flatMap((p) => p.acquired);
}

async function reject(ctx: BrokerContext, offset: number) {
  const res = await handleShareAck(ctx, {
    id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w', entries: [{ topic: 'jobs', partition: 0, offsets: [offset], type: 'reject', reason: 'bad json' }],
  });
  return res.results[0];
}

test('a failed dead-letter write leaves the record unarchived, is logged and counted, and is retried until the copy is written', async (t) => {
  let failing = true;
  // The disk refuses to make the dead-letter topic's partition directory while `failing`.
  const fs: FileSystem = {
    ...nodeFileSystem,
    mkdir: (path) => (failing && path.endsWith('jobs.dlq-0')
      ? Promise.reject(Object.assign(new Error(`EIO: i/o error, mkdir '${path}'`), { code: 'EIO' }))
      : nodeFileSystem.mkdir(path)),
  };
  const errors: string[] = [];
  const metrics = new CountingMetrics();
  const log = createLogger('error', (line) => { errors.push(line); });
  const { ctx, logs } = await shareJobsContext(t, [{ key: 'k', value: 'not json' }], { fs, metrics, log });

  assert.deepEqual(await acquire(ctx), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 1 }]);
  assert.deepEqual(await reject(ctx, 0), {}, 'the worker\'s verdict is accepted');
  let svc = shareServiceFor(ctx, 'g');
  assert.equal(svc.coord.describe('g').deadLettered, 0, 'not archived without its copy');
  assert.equal(logs.topic('jobs.dlq'), undefined);
  assert.equal(metrics.failed, 1, 'the failure is counted');
  assert.ok(errors.some((l) => l.includes('dead letter write failed') && l.includes('EIO')), `logged at error: ${errors.join('')}`);
  assert.deepEqual(await acquire(ctx), [], 'a rejected record is not handed to a worker again');

  // Another commit (a tick's) persists whatever changed meanwhile; then the broker restarts.
  await svc.commit([], true);
  await stopShareService(ctx);
  svc = (await ShareCoordinators.start(ctx)).single!;
  const d = svc.coord.describe('g');
  assert.deepEqual([d.deadLettered, d.available, d.inFlight], [0, 0, 1], 'the state log holds it for its copy: not archived, not available');
  assert.deepEqual(await acquire(ctx), [], 'not handed to a worker after the restart either');
  // The restarted coordinator resumes the copy on its tick; the disk still fails it.
  await until(async () => (metrics.failed >= 2 ? true : undefined), 30_000, 'the resumed copy tried (and failed) again');
  assert.deepEqual(await acquire(ctx), [], 'still not handed out');

  // The disk recovers: the tick retries the owed copy (after its backoff) without any request.
  // Woken by the dead-letter append (as a parked fetch of the DLQ would be); 30 s leaves room for stalls.
  const appended = ctx.delayed.watch({
    tryComplete: async () => (logs.log('jobs.dlq', 0)?.logEndOffset ? true : undefined),
    onExpire: () => false,
  }, { kind: 'fetch', keys: [partitionKey('jobs.dlq', 0)], timeoutMs: 30_000 });
  failing = false;
  assert.equal(await appended, true, 'the dead letter was retried within 30 s');
  await svc.commit([], false); // queued behind the retry's run: the archive is done once this resolves
  assert.equal(svc.coord.describe('g').deadLettered, 1, 'archived once the copy is written');
  const { bytes } = await logs.log('jobs.dlq', 0)!.read(0, 1 << 20);
  const copies = [...decodeBatches(bytes)].flatMap((b) => b.records);
  assert.equal(copies.length, 1, 'one copy');
  assert.equal(copies[0].value!.toString(), 'not json');
  assert.equal(readDeadLetterHeaders(copies[0].headers)?.reason, 'bad json');
  assert.equal(metrics.written, 1);
});

test('a resumed copy that is already in the dead-letter topic (written before a crash, not yet archived) is not written again', async (t) => {
  let failing = true;
  const fs: FileSystem = {
    ...nodeFileSystem,
    mkdir: (path) => (failing && path.endsWith('jobs.dlq-0')
      ? Promise.reject(Object.assign(new Error(`EIO: i/o error, mkdir '${path}'`), { code: 'EIO' }))
      : nodeFileSystem.mkdir(path)),
  };
  const metrics = new CountingMetrics();
  const { ctx, logs } = await shareJobsContext(t, [{ key: 'k', value: 'not json' }], { fs, metrics, log: createLogger('error', () => {}) });
  assert.deepEqual(await acquire(ctx), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 1 }]);
  assert.deepEqual(await reject(ctx, 0), {});
  assert.equal(metrics.failed, 1);
  await stopShareService(ctx);

  // What a crash between a copy and the state write that archives it leaves: the copy is in
  // the topic (behind records of other groups), the state log still holds the record for it.
  failing = false;
  await logs.createTopic('jobs.dlq', 1);
  const dl = { group: 'g', topic: 'jobs', partition: 0, offset: 0, deliveryCount: 1, cause: 'rejected' as const, reason: 'bad json', deadLetterTopic: 'jobs.dlq' };
  const other = { ...dl, group: 'other' };
  const original = { key: Buffer.from('k'), value: Buffer.from('not json'), headers: [], timestamp: 0 };
  await logs.log('jobs.dlq', 0)!.append(encodeBatch([deadLetterRecord(original, dl), ...Array.from({ length: 50 }, () => deadLetterRecord(original, other))]));

  const svc = (await ShareCoordinators.start(ctx)).single!;
  await until(async () => (svc.coord.describe('g').deadLettered === 1 ? true : undefined), 30_000, 'the resumed copy archived');
  assert.equal(svc.coord.describe('g').inFlight, 0);
  assert.equal(logs.log('jobs.dlq', 0)!.logEndOffset, 51, 'no second copy written');
  assert.equal(metrics.written, 0);
});
