// ShareAck carrying several workers' entries (`workers`, coalesced by clients whose workers
// share a connection): each worker's entries are settled as that worker's and answered on
// their own, so one worker's refused entry neither fails nor hides the others'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAck } from '../../src/broker/handle-share-ack.js';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { ShareCoordinators, stopShareService } from '../../src/broker/share-coordinators.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { RecordState } from '../../src/queue/types.js';
import { testContext } from './test-context.js';

test('a ShareAck with workers settles each worker\'s entries as that worker\'s; a refused entry fails alone', async (t) => {
  const { ctx, logs, close } = await testContext();
  await logs.createTopic('jobs', 1);
  await logs.log('jobs', 0)!.append(encodeBatch(Array.from({ length: 30 }, (_, i) => ({ value: `job-${i}` }))));
  const svc = (await ShareCoordinators.start(ctx)).single!;
  t.after(async () => {
    await stopShareService(ctx);
    await close();
  });
  const acquire = async (workerId: string, maxRecords: number) => {
    const res = await handleShareAcquire(ctx, { id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId, topics: ['jobs'], maxRecords, maxWaitMs: 0 });
    return res.partitions[0]?.acquired ?? [];
  };
  assert.deepEqual((await acquire('w1', 10)).map((r) => [r.firstOffset, r.lastOffset]), [[0, 9]]);
  assert.deepEqual((await acquire('w2', 10)).map((r) => [r.firstOffset, r.lastOffset]), [[10, 19]]);
  let commits = 0;
  const commit = svc.commit.bind(svc);
  svc.commit = (dls, durable) => {
    if (durable) commits++;
    return commit(dls, durable);
  };
  const ack = (offsets: number[]) => ({ topic: 'jobs', partition: 0, offsets, type: 'ack' as const });
  const res = await handleShareAck(ctx, {
    id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w1', entries: [ack([0, 1, 2])],
    workers: [
      // w2's second entry names a record w1 holds: refused, and only that entry.
      { workerId: 'w2', entries: [ack([10, 11]), ack([3])] },
      // A worker the group does not know.
      { workerId: 'ghost', entries: [ack([12])] },
    ],
  });
  assert.deepEqual(res.results, [{}], 'w1\'s entry acked');
  assert.equal(res.workers?.length, 2);
  assert.deepEqual(res.workers![0].results[0], {}, 'w2\'s own records acked');
  assert.equal(res.workers![0].results[1].error?.code, 121, 'w2 does not hold offset 3: INVALID_RECORD_STATE');
  assert.equal(res.workers![1].results[0].error?.code, 25, 'ghost: UNKNOWN_MEMBER_ID');
  assert.equal(commits, 1, 'one durable commit (one fsync) for every worker of the request');
  const p = svc.coord.group('g')!.existing('jobs', 0)!;
  for (const o of [0, 1, 2, 10, 11]) assert.equal(p.stateOf(o), RecordState.ACKED, `offset ${o}`);
  for (const o of [3, 12]) assert.equal(p.stateOf(o), RecordState.ACQUIRED, `offset ${o} still held by its worker`);
});

test('a ShareAck without workers is answered without workers, as before the field', async (t) => {
  const { ctx, logs, close } = await testContext();
  await logs.createTopic('jobs', 1);
  await logs.log('jobs', 0)!.append(encodeBatch([{ value: 'a' }]));
  await ShareCoordinators.start(ctx);
  t.after(async () => {
    await stopShareService(ctx);
    await close();
  });
  await handleShareAcquire(ctx, { id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w1', topics: ['jobs'], maxRecords: 1, maxWaitMs: 0 });
  const res = await handleShareAck(ctx, { id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w1', entries: [{ topic: 'jobs', partition: 0, offsets: [0], type: 'ack' }] });
  assert.deepEqual(res, { id: 2, results: [{}] });
});
