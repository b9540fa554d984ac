// ShareCancel is answered only once the cancel is in the share state log
// (handle-share-cancel.ts): a broker that dies right after the answer comes back with the jobs
// still cancelled. The "crash" here is a second coordinator replaying the state log while the
// first has written nothing since the answer (its tick, which would persist pending changes a
// moment later, is switched off).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { handleShareCancel } from '../../src/broker/handle-share-cancel.js';
import { ShareService } from '../../src/broker/share-service.js';
import { logManagerGenerationDir } from '../../src/state-log/generation-log.js';
import { SHARE_STATE_PREFIX } from '../../src/queue/share-state-log.js';
import { Api } from '../../src/protocol/api.js';
import { shareJobsContext } from './test-context.js';

test('a cancel is in the share state log when it is answered: a coordinator replaying the log right after the answer never hands the jobs out', async (t) => {
  const { ctx, svc } = await shareJobsContext(t, [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
  // No background persist: only what a handler commits before answering is in the log.
  (svc as unknown as { tick: () => void }).tick = () => {};
  // Worker w holds offset 0; offsets 1 and 2 are not taken yet.
  const got = await handleShareAcquire(ctx, { id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords: 1, maxWaitMs: 0 });
  assert.deepEqual(got.partitions[0]!.acquired, [{ firstOffset: 0, lastOffset: 0, deliveryCount: 1 }]);

  const res = await handleShareCancel(ctx, { id: 2, api: Api.ShareCancel, version: 0, groupId: 'g', topic: 'jobs', partition: 0, offsets: [0, 1] });
  assert.deepEqual(res.partitions[0]!.cancelled.map((c) => c.offset), [0, 1]);

  // The broker dies now: a new coordinator replays the state log as it is.
  const replayed = await ShareService.open(ctx, logManagerGenerationDir(ctx.logs, SHARE_STATE_PREFIX));
  try {
    const source = { topic: 'jobs', partition: 0, logStartOffset: 0, logEndOffset: 3 };
    const after = replayed.coord.acquire('g', 'w2', [source], 10);
    assert.deepEqual(after.flatMap((p) => p.ranges.map((r) => [r.firstOffset, r.lastOffset])), [[2, 2]], 'only the job not cancelled is handed out after the restart');
    assert.equal(replayed.coord.describe('g').cancelled, 2, 'both cancels survived');
  } finally {
    (replayed as unknown as { tick: () => void }).tick = () => {};
    await replayed.close();
  }
});
