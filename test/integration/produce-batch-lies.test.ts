// A producer batch whose header lies about its records (valid CRC) is refused by the real
// broker, over a raw connection, and leaves no trace: the log end does not move, the
// message counter does not count it, and a share group is offered no phantom offsets.
// Before the fix, one record with lastOffsetDelta 999 was stored as 1,000 offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api, LATEST } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { LAST_OFFSET_DELTA } from '../../src/record/index.js';
import { batchOf, createTopic, produce, readAll } from './broker-helpers.js';
import { LIE_KINDS, LIE_REFUSAL, lie, reframe } from '../record/batch-lies.js';

type Range = { firstOffset: number; lastOffset: number };

test('a batch whose header lies about its records is refused and stores nothing', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const c = await RawClient.connect(broker.url);
  t.after(() => c.close());
  const topic = 'lies';
  await createTopic(c, topic);
  assert.equal((await produce(c, topic, 0, batchOf(['a', 'b']), -1)).partitions[0].baseOffset, 0);

  // A share group that has seen and settled 0..1, so anything it is offered later is new.
  const acquire = (maxRecords: number) => c.request({
    api: Api.ShareAcquire, groupId: 'g-lies', workerId: 'w', topics: [topic], maxRecords, maxWaitMs: 0, settings: { startFrom: 'earliest' },
  });
  const first = await acquire(1000);
  assert.deepEqual(first.partitions[0].acquired.map((r: Range) => [r.firstOffset, r.lastOffset]), [[0, 1]]);
  const ack = await c.request({ api: Api.ShareAck, groupId: 'g-lies', workerId: 'w', entries: [{ topic, partition: 0, offsets: [0, 1], type: 'ack' }] });
  assert.equal(ack.results[0].error, undefined, JSON.stringify(ack.results[0].error));

  // The reported lie, then every kind of lie, each its own item of one produce request.
  const reported = batchOf(['only one']);
  reported.writeInt32BE(999, LAST_OFFSET_DELTA);
  reframe(reported);
  const res = await produce(c, topic, 0, reported, -1);
  assert.equal(res.partitions[0].error?.code, ERRORS.INVALID_RECORD.code, JSON.stringify(res.partitions[0]));
  assert.match(res.partitions[0].error.message, /last offset delta 999 does not match record count 1/);

  const valid = batchOf(['x', 'y', 'z']);
  const many = await c.request({
    api: Api.Produce, acks: -1, partitions: LIE_KINDS.map((kind) => ({ topic, partition: 0, records: lie(valid, kind, 7, 1) })),
  });
  LIE_KINDS.forEach((kind, i) => {
    const e = many.partitions[i].error;
    assert.equal(e?.code, ERRORS[LIE_REFUSAL[kind].code].code, `${kind}: ${JSON.stringify(many.partitions[i])}`);
    assert.match(e.message, LIE_REFUSAL[kind].message, kind);
  });

  // Nothing appended: the log end is where it was, and the next good batch follows on.
  const end = await c.request({ api: Api.ListOffsets, partitions: [{ topic, partition: 0, timestamp: LATEST }] });
  assert.equal(end.partitions[0].offset, 2);
  assert.equal((await produce(c, topic, 0, batchOf(['c']), -1)).partitions[0].baseOffset, 2);
  assert.deepEqual(await readAll(c, topic, 0), [[0, 'a'], [1, 'b'], [2, 'c']]);

  // The share group is offered offset 2 and nothing else.
  const next = await acquire(1000);
  assert.deepEqual(next.partitions[0].acquired.map((r: Range) => [r.firstOffset, r.lastOffset]), [[2, 2]]);

  // The message counter counted the three real records only.
  const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`sluice_messages_in_total{topic="${topic}"}`));
  assert.equal(line?.split(' ')[1], '3', line);
});
