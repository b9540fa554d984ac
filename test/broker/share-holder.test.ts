// The holder token (ShareService.holderOf) that ShareAcquire answers carry and an unstarted
// give-back names: unchanged while the worker's locks are its own, new once they are gone (the
// worker left and came back, the coordinator reloaded), and a ShareAck naming a stale token
// settles nothing, so a give-back for locks that died cannot let go of the same offset the
// worker acquired again (docs/queue.md, "A delivery attempt is an acquisition").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { handleShareAck } from '../../src/broker/handle-share-ack.js';
import { stopShareService } from '../../src/broker/share-coordinators.js';
import { ShareService } from '../../src/broker/share-service.js';
import { logManagerGenerationDir } from '../../src/state-log/generation-log.js';
import { SHARE_STATE_PREFIX } from '../../src/queue/share-state-log.js';
import { Api } from '../../src/protocol/api.js';
import { shareJobsContext } from './test-context.js';

test('a give-back naming a holder token the worker no longer has settles nothing; the worker keeps the record it acquired again', async (t) => {
  const { ctx, svc } = await shareJobsContext(t, [{ value: 'a' }]);
  // No backoff after a failed attempt: the record is available again at once after the leave.
  const acquire = (maxRecords: number) => handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords, maxWaitMs: 0, settings: { retryBackoffMs: 0, retryBackoffMaxMs: 0 },
  });
  const giveBack = (holder: string | undefined) => handleShareAck(ctx, {
    id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w', ...(holder !== undefined && { holder }),
    entries: [{ topic: 'jobs', partition: 0, offsets: [0], type: 'release', kind: 'unstarted' }],
  });

  const first = await acquire(1);
  assert.deepEqual(first.partitions[0]!.acquired, [{ firstOffset: 0, lastOffset: 0, deliveryCount: 1 }]);
  const old = first.holder;
  assert.ok(old, 'the answer carries a holder token');
  assert.equal((await acquire(0)).holder, old, 'a heartbeat answers the same token while the worker holds its locks');

  // The worker leaves (its connection closed) and comes back: the record came back as a failed
  // attempt, and this worker takes it again under a new token.
  svc.coord.leave('g', 'w');
  await svc.commit([], true);
  const again = await acquire(1);
  assert.deepEqual(again.partitions[0]?.acquired, [{ firstOffset: 0, lastOffset: 0, deliveryCount: 2 }]);
  assert.ok(again.holder && again.holder !== old, 'a worker that left and came back has a new token');

  const stale = await giveBack(old);
  assert.equal(stale.results[0]!.error?.code, 121, 'the give-back under the old token is refused (INVALID_RECORD_STATE)');
  assert.deepEqual(svc.coord.heldJobs('g', 10).map((j) => [j.offset, j.workerId]), [[0, 'w']], 'the record is still held by the worker under its new acquisition');

  const current = await giveBack(again.holder);
  assert.equal(current.results[0]!.error, undefined, 'the give-back under the current token applies');
  assert.deepEqual(svc.coord.heldJobs('g', 10), [], 'given back');
});

test('a reloaded coordinator (a new ShareService over the same state) answers a new holder token', async (t) => {
  const { ctx } = await shareJobsContext(t, [{ value: 'a' }]);
  const res = await handleShareAcquire(ctx, { id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords: 1, maxWaitMs: 0 });
  await stopShareService(ctx);
  const reloaded = await ShareService.open(ctx, logManagerGenerationDir(ctx.logs, SHARE_STATE_PREFIX));
  t.after(() => reloaded.close());
  reloaded.coord.heartbeat('g', 'w');
  const token = reloaded.holderOf('g', 'w');
  assert.ok(token && res.holder && token !== res.holder, `the reloaded coordinator's token ${token} differs from ${res.holder}`);
});

test('an acquire answer carries the token its records were acquired under, even when the worker left and came back while they were read', async (t) => {
  const { ctx, logs, svc } = await shareJobsContext(t, [{ value: 'a' }]);
  const log = logs.log('jobs', 0)!;
  const acquire = (maxRecords: number) => handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords, maxWaitMs: 0, settings: { retryBackoffMs: 0, retryBackoffMaxMs: 0 },
  });
  // While the acquired record is read, the worker's session ends (a stall past the session
  // timeout: its locks go) and its heartbeat brings it back under a new handle.
  const read = log.read.bind(log);
  let once = true;
  log.read = async (...args: Parameters<typeof log.read>) => {
    if (once) {
      once = false;
      svc.coord.leave('g', 'w');
      svc.coord.heartbeat('g', 'w');
    }
    return read(...args);
  };
  const first = await acquire(1);
  assert.deepEqual(first.partitions[0]!.acquired, [{ firstOffset: 0, lastOffset: 0, deliveryCount: 1 }]);
  assert.notEqual(first.holder, svc.holderOf('g', 'w'), 'the answer must not name the new handle: its records were acquired under the old one, whose locks are gone');

  // The worker takes the record again under its new token; a give-back of the first answer's
  // job, naming that answer's token, must not let go of it.
  const again = await acquire(1);
  assert.deepEqual(again.partitions[0]?.acquired, [{ firstOffset: 0, lastOffset: 0, deliveryCount: 2 }]);
  const stale = await handleShareAck(ctx, {
    id: 2, api: Api.ShareAck, version: 0, groupId: 'g', workerId: 'w', ...(first.holder !== undefined && { holder: first.holder }),
    entries: [{ topic: 'jobs', partition: 0, offsets: [0], type: 'release', kind: 'unstarted' }],
  });
  assert.equal(stale.results[0]!.error?.code, 121, 'the give-back of the first answer\'s job is refused (INVALID_RECORD_STATE)');
  assert.deepEqual(svc.coord.heldJobs('g', 10).map((j) => [j.offset, j.workerId]), [[0, 'w']], 'the record is still held under its second acquisition');
});
