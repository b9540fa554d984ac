// The broker's check of a joining worker's settings (ShareAcquire `checkSettings`,
// share-settings.ts refuseOtherSettings): which settings are compared, how, and that a refused
// worker is neither bound nor given records. The client and the CLI against a real broker:
// test/integration/queue-settings.test.ts, queue-cli-options.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { Api, type ShareGroupSettings } from '../../src/protocol/api.js';
import { SluiceError } from '../../src/errors.js';
import { shareJobsContext } from './test-context.js';

function acquirer(ctx: Parameters<typeof handleShareAcquire>[0]) {
  return (workerId: string, settings?: ShareGroupSettings, checkSettings?: boolean, maxRecords = 1) => handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId, topics: ['jobs'], maxRecords, maxWaitMs: 0,
    ...(settings && { settings }), ...(checkSettings !== undefined && { checkSettings }),
  });
}

const refused = (pattern: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof SluiceError, String(err));
  assert.equal(err.code, 'INCONSISTENT_GROUP_PROTOCOL');
  assert.match(err.message, pattern);
  return true;
};

test('a joining worker whose settings differ is refused naming each with both values, before it is bound or takes a record; the same values, or fewer, join', async (t) => {
  const { ctx, svc } = await shareJobsContext(t, 4);
  const acquire = acquirer(ctx);
  await acquire('creator', { visibilityTimeoutMs: 10_000, rateLimit: 0, maxDeliveries: 3 }, true);
  await assert.rejects(acquire('other', { visibilityTimeoutMs: 20_000, rateLimit: 50, maxDeliveries: 3 }, true),
    refused(/^share group 'g' exists with visibilityTimeoutMs 10000 \(20000 given\), rateLimit 0 = no limit \(50 given\): .* sluice queue alter g --visibility-timeout 20000 --rate 50$/));
  const g = svc.coord.group('g')!;
  assert.ok(!g.workers.has('other'), 'a refused worker is not in the group');
  assert.equal(g.config.visibilityTimeoutMs, 10_000);
  // Only what the worker gives is compared.
  const same = await acquire('same', { visibilityTimeoutMs: 10_000 }, true, 4);
  assert.deepEqual(same.partitions.flatMap((p) => p.acquired.map((r) => [r.firstOffset, r.lastOffset])), [[1, 3]], 'the refused worker took nothing');
  await acquire('empty', {}, true);
  await acquire('none', undefined, true);
  assert.ok(['same', 'empty', 'none'].every((w) => g.workers.has(w)));
});

test('without checkSettings (a client from before it, or a worker past its join) settings on an existing group are not compared, and change nothing', async (t) => {
  const { ctx, svc } = await shareJobsContext(t, 1);
  const acquire = acquirer(ctx);
  await acquire('creator', { visibilityTimeoutMs: 10_000 }, true);
  await acquire('old-client', { visibilityTimeoutMs: 20_000 });
  await acquire('past-join', { visibilityTimeoutMs: 20_000 }, false);
  assert.ok(svc.coord.group('g')!.workers.has('old-client'));
  assert.equal(svc.coord.group('g')!.config.visibilityTimeoutMs, 10_000);
});

test('a dead-letter topic is compared as it applies to the worker\'s topic: the default given explicitly is the group\'s own', async (t) => {
  const { ctx } = await shareJobsContext(t, 1);
  const acquire = acquirer(ctx);
  await acquire('creator', undefined, true);
  await acquire('explicit-default', { deadLetterTopic: 'jobs.dlq' }, true);
  await acquire('null', { deadLetterTopic: null }, true);
  await assert.rejects(acquire('elsewhere', { deadLetterTopic: 'elsewhere' }, true),
    refused(/exists with deadLetterTopic 'jobs\.dlq' \('elsewhere' given\): .*QueueAdmin\.alterGroup\(\) \(sluice queue alter has no flag for deadLetterTopic\)$/));
});

test('a value out of range is INVALID_CONFIG naming it, as at creation, not a difference', async (t) => {
  const { ctx } = await shareJobsContext(t, 1);
  const acquire = acquirer(ctx);
  await acquire('creator', undefined, true);
  await assert.rejects(acquire('bad', { visibilityTimeoutMs: 0 }, true), (err: unknown) => {
    assert.ok(err instanceof SluiceError);
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.match(err.message, /visibilityTimeoutMs/);
    return true;
  });
});
