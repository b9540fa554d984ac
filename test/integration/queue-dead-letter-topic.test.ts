// A share group's dead-letter topic is a topic name like any other: an internal topic (the
// broker's offsets or share state log) or an illegal name is refused when the group is
// created. Before, four requests (create a topic, produce a record, create a group whose
// deadLetterTopic is `__consumer_offsets-0` with maxDeliveries 1, reject the record) copied
// the record into the offsets log: a key that is not JSON kept the broker from starting
// ever again, a well-formed one forged another group's committed offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import { encodeBatch } from '../../src/record/index.js';
import { Api } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { createTopic, produce } from './broker-helpers.js';

test('a dead-letter topic that is internal or not a legal name is refused at group creation, and the broker restarts', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  let c = await RawClient.connect(broker.url);
  t.after(() => c.close());

  // A group whose committed offset the attack tried to forge.
  await createTopic(c, 'jobs');
  const committed = await c.request({ api: Api.OffsetCommit, groupId: 'victim', partitions: [{ topic: 'jobs', partition: 0, offset: 1 }] });
  assert.equal(committed.partitions[0].error, undefined, JSON.stringify(committed));

  // The records the attack dead-letters: a key the offsets log cannot decode, and a
  // well-formed offsets-log record moving the victim's offset.
  const records = encodeBatch([
    { key: 'not json', value: 'x' },
    { key: JSON.stringify(['o', 'victim', 'jobs', 0]), value: pack({ v: 1, offset: 999, metadata: '', commitTimestamp: Date.now() }) },
  ]);
  const produced = await produce(c, 'jobs', 0, records);
  assert.equal(produced.partitions[0].error, undefined, JSON.stringify(produced));

  const refused = ['__consumer_offsets-0', '__share_state-0', '__anything', '../escape', 'a/b', 'x'.repeat(250)];
  for (const [i, deadLetterTopic] of refused.entries()) {
    const groupId = `attacker-${i}`;
    const acq = await c.request({
      api: Api.ShareAcquire, groupId, workerId: 'w', topics: ['jobs'], maxRecords: 2, maxWaitMs: 0,
      settings: { deadLetterTopic, maxDeliveries: 1 },
    });
    assert.equal(acq.error?.code, ERRORS.INVALID_CONFIG.code, `${deadLetterTopic}: ${JSON.stringify(acq.error ?? acq.partitions)}`);
    assert.match(acq.error.message, /deadLetterTopic/, 'the error names the setting');
    // The rest of the attack, in case the group had been created anyway: reject what it holds.
    const offsets = (acq.partitions ?? []).flatMap((p: { acquired: { firstOffset: number; lastOffset: number }[] }) =>
      p.acquired.flatMap((r) => Array.from({ length: r.lastOffset - r.firstOffset + 1 }, (_, k) => r.firstOffset + k)));
    if (offsets.length) {
      await c.request({ api: Api.ShareAck, groupId, workerId: 'w', entries: [{ topic: 'jobs', partition: 0, offsets, type: 'reject' }] });
    }
    const d = await c.request({ api: Api.ShareDescribe, groupIds: [groupId] });
    assert.notEqual(d.groups[0].error, undefined, `group ${groupId} must not exist`);
  }

  // A legal dead-letter topic still works, and the record goes there.
  const ok = await c.request({
    api: Api.ShareAcquire, groupId: 'fine', workerId: 'w', topics: ['jobs'], maxRecords: 1, maxWaitMs: 0,
    settings: { deadLetterTopic: 'jobs.poison', maxDeliveries: 1 },
  });
  assert.equal(ok.error, undefined, JSON.stringify(ok.error));
  assert.equal(ok.partitions[0].acquired[0].firstOffset, 0);
  const rej = await c.request({ api: Api.ShareAck, groupId: 'fine', workerId: 'w', entries: [{ topic: 'jobs', partition: 0, offsets: [0], type: 'reject' }] });
  assert.equal(rej.results[0].error, undefined, JSON.stringify(rej.results[0].error));

  c.close();
  await broker.restart(); // rejects when the broker does not come up
  c = await RawClient.connect(broker.url);
  const fetched = await c.request({ api: Api.OffsetFetch, groupId: 'victim', partitions: [{ topic: 'jobs', partition: 0 }] });
  assert.equal(fetched.partitions[0].offset, 1, 'the victim keeps its committed offset');
  const dlq = await c.request({ api: Api.ListOffsets, partitions: [{ topic: 'jobs.poison', partition: 0, timestamp: -1 }] });
  assert.equal(dlq.partitions[0].offset, 1, `the rejected record is in the legal dead-letter topic: ${JSON.stringify(dlq)}`);
});
