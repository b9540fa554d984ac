// ShareAck carrying several workers' entries (`workers`, coalesced by clients whose workers
// share a connection): each worker's entries are settled as that worker's and answered on
// their own, so one worker's refused entry neither fails nor hides the others'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAck } from '../../src/broker/handle-share-ack.js';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { Api } from '../../src/protocol/api.js';
import { RecordState } from '../../src/queue/types.js';
import { shareJobsContext } from './test-context.js';

test('a ShareAck with workers settles each worker\'s entries as that worker\'s; a refused entry fails alone', async (t) => {
  const { ctx, svc } = await shareJobsContext(t, 30);
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
  const { ctx } = await shareJobsContext(t, 1);
  await handleShareAcquire(ctx, { id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w1', topics: ['jobs'], maxRecords: 1, maxWaitMs: 0 });
  const res = await handleShareAck(ctx, { id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w1', entries: [{ topic: 'jobs', partition: 0, offsets: [0], type: 'ack' }] });
  assert.deepEqual(res, { id: 2, results: [{}] });
});

test('a coalesced worker entry naming a stale holder token fails alone: its worker\'s entries INVALID_RECORD_STATE, the other worker\'s applied', async (t) => {
  const { ctx, svc } = await shareJobsContext(t, 4);
  // No backoff after a failed attempt: w2's record is available again at once after its leave.
  const acquire = (workerId: string, maxRecords: number) => handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId, topics: ['jobs'], maxRecords, maxWaitMs: 0, settings: { retryBackoffMs: 0, retryBackoffMaxMs: 0 },
  });
  const w1 = await acquire('w1', 2);
  assert.deepEqual(w1.partitions[0]!.acquired.map((r) => [r.firstOffset, r.lastOffset]), [[0, 1]]);
  const w2 = await acquire('w2', 1);
  assert.deepEqual(w2.partitions[0]!.acquired.map((r) => [r.firstOffset, r.lastOffset]), [[2, 2]]);
  const stale = w2.holder!;
  // w2 leaves and comes back: offset 2 came back as a failed attempt and w2 holds it again under a new token.
  svc.coord.leave('g', 'w2');
  await svc.commit([], true);
  const again = await acquire('w2', 1);
  assert.deepEqual(again.partitions[0]!.acquired.map((r) => [r.firstOffset, r.lastOffset]), [[2, 2]]);
  assert.ok(again.holder && again.holder !== stale);

  const giveBack = (offsets: number[]) => ({ topic: 'jobs', partition: 0, offsets, type: 'release' as const, kind: 'unstarted' as const });
  const res = await handleShareAck(ctx, {
    id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w1', holder: w1.holder!, entries: [giveBack([0])],
    workers: [
      { workerId: 'w2', holder: stale, entries: [giveBack([2]), { topic: 'jobs', partition: 0, offsets: [2], type: 'ack' }] },
      { workerId: 'w1', entries: [{ topic: 'jobs', partition: 0, offsets: [1], type: 'ack' }] },
    ],
  });
  assert.deepEqual(res.results, [{}], 'w1\'s give-back under its current token applies');
  assert.deepEqual(res.workers!.map((w) => w.results.map((r) => r.error?.code ?? 0)), [[121, 121], [0]], 'every entry under w2\'s stale token INVALID_RECORD_STATE; w1\'s ack applied');
  const p = svc.coord.group('g')!.existing('jobs', 0)!;
  assert.equal(p.stateOf(0), RecordState.AVAILABLE, 'offset 0 given back');
  assert.equal(p.stateOf(1), RecordState.ACKED, 'offset 1 acked');
  assert.deepEqual(svc.coord.heldJobs('g', 10).map((j) => [j.offset, j.workerId]), [[2, 'w2']], 'w2 still holds offset 2 under its new acquisition');
});
