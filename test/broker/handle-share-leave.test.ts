// A leave handled while an acquire of the same worker, on the same connection, is still
// running (requests of one connection run at once: request-pipeline.ts). A broker that read
// both frames in one go (it was stalled, and the client sent its last long poll, then
// close()'s leave) started the acquire, ran the leave at the acquire's first await, and the
// acquire then locked records for the worker and registered it again: the worker stayed in
// the group, bound to no connection, until its session timed out, and `queue delete` right
// after close() was refused with NON_EMPTY_GROUP (seen under scripts/stall-run.mjs, seed
// 1401, test/integration/queue-cli.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { handleShareLeave } from '../../src/broker/handle-share-leave.js';
import { Api } from '../../src/protocol/api.js';
import type { RequestScope } from '../../src/broker/context.js';
import { shareJobsContext } from './test-context.js';

/** A connection as the handlers see it: open, its close hooks kept. */
function openScope(): RequestScope {
  return {
    closed: false,
    onClose: () => () => {},
    push() {},
    reserveOutput: async (want: number) => want,
    adjustOutput() {},
    holdUntilSent() {},
  } as unknown as RequestScope;
}

for (const startFrom of ['earliest', 'latest'] as const) {
  test(`a leave that runs while the worker's acquire is under way (startFrom ${startFrom}): the worker is gone afterwards and holds nothing`, async (t) => {
    const { ctx, svc } = await shareJobsContext(t, 5);
    const scope = openScope();
    const acquire = (maxRecords: number) => handleShareAcquire(ctx, {
      id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords, maxWaitMs: 0, settings: { startFrom },
    }, scope);
    // The worker joins (a heartbeat) before the two requests arrive together.
    await acquire(0);
    assert.deepEqual([...svc.coord.group('g')!.workers.keys()], ['w']);

    // Dispatched in the same tick, in the order they were sent: the acquire, then the leave.
    const acquired = acquire(5);
    const left = handleShareLeave(ctx, { id: 2, api: Api.ShareLeave, version: 0, groupId: 'g', workerId: 'w' }, scope);
    const [res] = await Promise.all([acquired, left]);

    assert.deepEqual([...svc.coord.group('g')!.workers.keys()], [], 'the worker that left is not in the group');
    assert.equal(svc.coord.describe('g').inFlight, 0, 'no record is locked to a worker that left');
    // Whatever the first acquire answered was released by the leave: the next worker gets
    // every job (one the leave released counts that attempt).
    const answered = res.partitions.flatMap((p) => p.acquired.flatMap((r) => Array.from({ length: r.lastOffset - r.firstOffset + 1 }, (_, i) => r.firstOffset + i)));
    const next = await handleShareAcquire(ctx, {
      id: 3, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w2', topics: ['jobs'], maxRecords: 5, maxWaitMs: 0,
    }, openScope());
    const got = next.partitions.flatMap((p) => p.acquired.flatMap((r) => Array.from({ length: r.lastOffset - r.firstOffset + 1 }, (_, i) => [r.firstOffset + i, r.deliveryCount])));
    // A group that starts at the latest offset starts after the 5 jobs: nothing to get.
    const expected = startFrom === 'earliest' ? [0, 1, 2, 3, 4].map((o) => [o, answered.includes(o) ? 2 : 1]) : [];
    assert.deepEqual(got, expected, `the next worker's acquisition (the first answered ${JSON.stringify(answered)})`);
  });
}
