// Which requests may reach the broker after their caller gave up (client/late-send.ts): a
// frame still unwritten at its deadline is dropped with its connection unless it is one of these.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeToSendLate } from '../../src/client/late-send.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';

const batch = (producerId?: number) => encodeBatch([{ value: Buffer.from('v') }], producerId === undefined ? {} : { producerId, producerEpoch: 0, baseSequence: 0 });
const produce = (...records: Uint8Array[]) => ({ acks: 1, partitions: records.map((r, partition) => ({ topic: 't', partition, records: r })) });

test('a produce is safe late only when every batch carries a producer id (the broker drops a duplicate by sequence)', () => {
  assert.equal(safeToSendLate(Api.Produce, produce(batch(7), batch(7))), true);
  assert.equal(safeToSendLate(Api.Produce, produce(batch())), false);
  assert.equal(safeToSendLate(Api.Produce, produce(batch(7), batch())), false);
  assert.equal(safeToSendLate(Api.Produce, produce(Buffer.concat([batch(7), batch()]))), false);
  assert.equal(safeToSendLate(Api.Produce, produce(batch(7).subarray(0, 30))), false, 'bytes that are not a whole batch');
  assert.equal(safeToSendLate(Api.Produce, produce()), true, 'nothing to store twice');
});

test('an offset commit is safe late only with a commit sequence (the coordinator orders it); reads are; other writes are not', () => {
  assert.equal(safeToSendLate(Api.OffsetCommit, { groupId: 'g', partitions: [], commitSeq: 3 }), true);
  assert.equal(safeToSendLate(Api.OffsetCommit, { groupId: 'g', partitions: [] }), false);
  for (const api of [Api.Fetch, Api.Metadata, Api.ListOffsets, Api.OffsetFetch, Api.FindCoordinator]) assert.equal(safeToSendLate(api, {}), true);
  for (const api of [Api.ShareAcquire, Api.ShareAck, Api.ConsumerGroupHeartbeat, Api.DeleteTopics, Api.CreateAcls, 4242]) assert.equal(safeToSendLate(api, {}), false);
});
