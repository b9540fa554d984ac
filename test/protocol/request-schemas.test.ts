import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../src/protocol/parse-request.js';
import { RequestError } from '../../src/protocol/request-error.js';
import { Api } from '../../src/protocol/api.js';

const req = (api: number, body: object) => ({ id: 7, api, version: 0, ...body });

function refused(api: number, body: object, field: RegExp): void {
  assert.throws(() => parseRequest(req(api, body)), (e: unknown) => {
    assert.ok(e instanceof RequestError);
    assert.equal((e as RequestError).code, 'INVALID_REQUEST');
    assert.match((e as Error).message, field);
    return true;
  });
}

test('well-formed group requests pass; null optional fields are dropped', () => {
  const hb = parseRequest(req(Api.ConsumerGroupHeartbeat, {
    groupId: 'g', memberId: '', memberEpoch: 0, subscribedTopics: ['a'], subscribedPattern: null, ownedPartitions: [{ topic: 'a', partitions: [0, 1] }],
  })) as unknown as Record<string, unknown>;
  assert.equal('subscribedPattern' in hb, false);
  parseRequest(req(Api.OffsetCommit, { groupId: 'g', memberId: 'm', memberEpoch: 3, partitions: [{ topic: 'a', partition: 0, offset: 5, metadata: 'x' }] }));
  parseRequest(req(Api.OffsetCommit, { groupId: 'g', partitions: [] }));
  parseRequest(req(Api.OffsetFetch, { groupId: 'g' }));
  parseRequest(req(Api.OffsetDelete, { groupId: 'g', partitions: [{ topic: 'a', partition: 1 }] }));
  parseRequest(req(Api.ListGroups, {}));
  parseRequest(req(Api.DescribeGroups, { groupIds: ['g'], includeOffsets: false }));
  parseRequest(req(Api.ConsumerGroupDescribe, { groupIds: [] }));
  parseRequest(req(Api.DeleteGroups, { groupIds: ['g'] }));
});

test('ill-typed group request fields are INVALID_REQUEST naming the field', () => {
  refused(Api.ConsumerGroupHeartbeat, { groupId: 1, memberId: '', memberEpoch: 0 }, /^groupId must be a string/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: '', memberEpoch: -2 }, /memberEpoch must be in -1\.\./);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: '', memberEpoch: 0, subscribedTopics: ['a', 3] }, /subscribedTopics\[1\] must be a string/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: 'm', memberEpoch: 1, ownedPartitions: [{ topic: 'a', partitions: [0, -1] }] },
    /ownedPartitions\[0\]\.partitions\[1\] must be in 0\.\./);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: '', memberEpoch: 0, sessionTimeoutMs: 1.5 }, /sessionTimeoutMs must be an integer/);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: -1 }] }, /partitions\[0\]\.offset must be in 0\.\./);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: 1, metadata: 5 }] }, /partitions\[0\]\.metadata must be a string/);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: {} }, /^partitions must be an array/);
  refused(Api.OffsetFetch, { groupId: 'g', partitions: [{ topic: 'a' }] }, /partitions\[0\]\.partition must be an integer/);
  refused(Api.ListGroups, { states: 'Stable' }, /states must be an array of strings/);
  refused(Api.ListGroups, { states: ['Stable', 'Sleeping'] }, /^states\[1\] must be one of Empty, Assigning, Reconciling, Stable, Dead/);
  refused(Api.DescribeGroups, { groupIds: ['g'], includeOffsets: 'yes' }, /includeOffsets must be a boolean/);
  refused(Api.DeleteGroups, {}, /groupIds must be an array of strings/);
  // What the coordinator used to re-check itself (group/request-checks.ts) is refused here, before it.
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopics: ['t'], ownedPartitions: [{ topic: 't', partitions: 'x' }] },
    /^ownedPartitions\[0\]\.partitions must be an array/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: 'a', memberEpoch: 0, subscribedTopics: 't' }, /^subscribedTopics must be an array/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: 'a', memberEpoch: 1.5 }, /^memberEpoch must be an integer/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: 7, memberEpoch: 0 }, /^memberId must be a string/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: 'a', memberEpoch: 0, rebalanceTimeoutMs: 0 }, /^rebalanceTimeoutMs must be in 1\.\./);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: null }, /^partitions must be an array/);
  refused(Api.OffsetFetch, { groupId: 'g', partitions: [null] }, /^partitions\[0\] must be a map/);
  refused(Api.DescribeGroups, { groupIds: 'g' }, /^groupIds must be an array of strings/);
});

test('what the group coordinator and offset store no longer re-check is refused by the schema, before them', () => {
  // group.ts parseTopics refused an empty subscribed name; the schema now does.
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: '', memberEpoch: 0, subscribedTopics: ['t', ''] }, /^subscribedTopics\[1\] must be a string of at least 1 characters/);
  // offset-store.ts checkEntry refused these partitions, offsets and metadata.
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 1.5, offset: 1 }] }, /^partitions\[0\]\.partition must be an integer/);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: -1, offset: 1 }] }, /^partitions\[0\]\.partition must be in 0\.\./);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: 2 ** 53 }] }, /^partitions\[0\]\.offset must be in 0\.\./);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: -1 }] }, /^partitions\[0\]\.offset must be in 0\.\./);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: 1, metadata: 5 }] }, /^partitions\[0\]\.metadata must be a string/);
});

test('what the share coordinator no longer re-checks is refused by the schema, before it', () => {
  // Group and worker ids (checkId: non-empty, at most 255 characters) on every api that names one.
  for (const id of ['', 'x'.repeat(256)]) {
    shareRefused(Api.ShareAcquire, { groupId: id, workerId: 'w', topics: ['t'], maxRecords: 1, maxWaitMs: 0 }, /^groupId must be a string of 1\.\.255 characters/);
    shareRefused(Api.ShareAcquire, { groupId: 'g', workerId: id, topics: ['t'], maxRecords: 1, maxWaitMs: 0 }, /^workerId must be a string of 1\.\.255 characters/);
    shareRefused(Api.ShareAck, { groupId: 'g', workerId: id, entries: [] }, /^workerId must be a string of 1\.\.255 characters/);
    shareRefused(Api.ShareAck, { groupId: id, workerId: 'w', entries: [] }, /^groupId must be a string of 1\.\.255 characters/);
    shareRefused(Api.ShareLeave, { groupId: 'g', workerId: id }, /^workerId must be a string of 1\.\.255 characters/);
    shareRefused(Api.ShareDelete, { groupId: id }, /^groupId must be a string of 1\.\.255 characters/);
    shareRefused(Api.ShareReset, { groupId: id, topic: 't', to: 'earliest' }, /^groupId must be a string of 1\.\.255 characters/);
  }
  // acquire's max records, release's delayMs, extend's ms, and the targets' arrays.
  shareRefused(Api.ShareAcquire, { groupId: 'g', workerId: 'w', topics: ['t'], maxRecords: 1.5, maxWaitMs: 0 }, /^maxRecords must be an integer/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1], type: 'release', delayMs: 0.5 }]), /^entries\[0\]\.delayMs must be an integer/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1], type: 'extend', extendMs: 0 }]), /^entries\[0\]\.extendMs must be in 1\.\./);
  shareRefused(Api.ShareAck, { groupId: 'g', workerId: 'w', entries: {} }, /^entries must be an array/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: 3, type: 'ack' }]), /^entries\[0\]\.offsets must be an array/);
});

const shareRefused = (api: number, body: object, field: RegExp) => refused(api, body, field);
const ack = (entries: object[]) => ({ groupId: 'g', workerId: 'w', entries });

test('share requests: ill-typed fields are INVALID_REQUEST naming the field', () => {
  shareRefused(Api.ShareAcquire, { groupId: '', workerId: 'w', topics: ['t'], maxRecords: 1, maxWaitMs: 0 }, /^groupId must be a string of 1\.\.255 characters/);
  shareRefused(Api.ShareAcquire, { groupId: 'g', workerId: 'w'.repeat(256), topics: ['t'], maxRecords: 1, maxWaitMs: 0 }, /^workerId/);
  shareRefused(Api.ShareAcquire, { groupId: 'g', workerId: 'w', topics: [], maxRecords: 1, maxWaitMs: 0 }, /^topics must have at least 1 item/);
  shareRefused(Api.ShareAcquire, { groupId: 'g', workerId: 'w', topics: ['t'], maxRecords: -1, maxWaitMs: 0 }, /^maxRecords must be in 0\.\./);
  shareRefused(Api.ShareAcquire, { groupId: 'g', workerId: 'w', topics: ['t'], maxRecords: 1, maxWaitMs: 0, settings: [1] }, /^settings must be a map/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1.5], type: 'ack' }]), /^entries\[0\]\.offsets\[0\] must be an integer/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1], type: 'nack' }]), /^entries\[0\]\.type must be one of ack, release, reject, extend/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1], type: 'release', delayMs: -5 }]), /^entries\[0\]\.delayMs/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1], type: 'release', kind: 'later' }]), /^entries\[0\]\.kind/);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: [1], type: 'ack', kind: 'unstarted' }]), /^entries\[0\]\.kind .*only on a release/);
  const half = Array.from({ length: 60_000 }, (_, i) => i);
  shareRefused(Api.ShareAck, ack([{ topic: 't', partition: 0, offsets: half, type: 'ack' }, { topic: 't', partition: 1, offsets: half, type: 'ack' }]), /^entries may name at most 100000 offsets/);
  shareRefused(Api.ShareReset, { groupId: 'g', topic: 't', to: 'earliest', partitions: [] }, /^partitions must have at least 1 item/);
  shareRefused(Api.ShareReset, { groupId: 'g', topic: 't', to: 'earliest', partitions: [0, 0] }, /^partitions must not repeat a partition/);
  for (const to of ['soon', { offset: -1 }, { offset: 1, timestamp: 2 }, {}, null]) {
    shareRefused(Api.ShareReset, { groupId: 'g', topic: 't', to }, /^to must be 'earliest', 'latest', \{offset\} or \{timestamp\}/);
  }
  shareRefused(Api.ShareDescribe, { groupIds: [1] }, /^groupIds\[0\] must be a string/);
  shareRefused(Api.ShareLeave, { groupId: 'g' }, /^workerId/);
  shareRefused(Api.ShareDelete, {}, /^groupId/);
});

test('share requests: well-formed ones pass; null optional fields are dropped', () => {
  parseRequest(req(Api.ShareAcquire, { groupId: 'g', workerId: 'w', topics: ['t'], maxRecords: 0, maxWaitMs: 0, settings: { deadLetterTopic: null } }));
  const a = parseRequest(req(Api.ShareAck, ack([
    { topic: 't', partition: 0, offsets: [1], type: 'release', delayMs: 0, reason: 'x', kind: 'unstarted' },
    { topic: 't', partition: 0, offsets: [2], type: 'extend', extendMs: null },
  ]))) as unknown as { entries: Record<string, unknown>[] };
  assert.equal('extendMs' in a.entries[1], false);
  for (const to of ['earliest', 'latest', { offset: 5 }, { timestamp: 0 }]) parseRequest(req(Api.ShareReset, { groupId: 'g', topic: 't', to, partitions: [0, 1], dryRun: true }));
  parseRequest(req(Api.ShareDescribe, {}));
  parseRequest(req(Api.ShareLeave, { groupId: 'g', workerId: 'w' }));
  parseRequest(req(Api.ShareDelete, { groupId: 'g' }));
});
