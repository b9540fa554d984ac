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
    /ownedPartitions\[0\]\.partitions\[1\] must be a partition number/);
  refused(Api.ConsumerGroupHeartbeat, { groupId: 'g', memberId: '', memberEpoch: 0, sessionTimeoutMs: 1.5 }, /sessionTimeoutMs must be an integer/);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: -1 }] }, /partitions\[0\]\.offset must be in 0\.\./);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: [{ topic: 'a', partition: 0, offset: 1, metadata: 5 }] }, /partitions\[0\]\.metadata must be a string/);
  refused(Api.OffsetCommit, { groupId: 'g', partitions: {} }, /^partitions must be an array/);
  refused(Api.OffsetFetch, { groupId: 'g', partitions: [{ topic: 'a' }] }, /partitions\[0\]\.partition must be an integer/);
  refused(Api.ListGroups, { states: 'Stable' }, /states must be an array of strings/);
  refused(Api.DescribeGroups, { groupIds: ['g'], includeOffsets: 'yes' }, /includeOffsets must be a boolean/);
  refused(Api.DeleteGroups, {}, /groupIds must be an array of strings/);
});
