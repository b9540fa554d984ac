// A record in the offsets log or the share state log that does not decode (written here
// through the storage layer, as the queue's dead-letter path once could) no longer keeps the
// broker from starting: the record is skipped, logged at error with its offset, counted in
// sluice_state_records_skipped_total, and copied to <data-dir>/quarantine.jsonl; every other
// group keeps its state. The log is then rewritten without it, so the next start is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { batchOf, createTopic, produce } from './broker-helpers.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { openLogManager } from '../../src/storage/log-manager.js';
import { QUARANTINE_FILE } from '../../src/storage/quarantine-file.js';

async function skippedCounts(httpUrl: string): Promise<{ offsets: number; share: number }> {
  const res = await fetch(`${httpUrl}/metrics`);
  assert.equal(res.status, 200);
  const e = parseExposition(await res.text());
  return {
    offsets: valueOf(e, 'sluice_state_records_skipped_total', { log: 'offsets' }),
    share: valueOf(e, 'sluice_state_records_skipped_total', { log: 'share_state' }),
  };
}

test('a bad record in the offsets log and in the share state log is skipped, counted and quarantined; the broker starts with every other group intact', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  let c = await RawClient.connect(broker.url);

  // State worth keeping: a committed offset and a share group with acks.
  await createTopic(c, 'orders');
  await produce(c, 'orders', 0, batchOf(['a', 'b', 'c']));
  const committed = await c.request({ api: Api.OffsetCommit, groupId: 'keep', partitions: [{ topic: 'orders', partition: 0, offset: 2, metadata: 'm' }] });
  assert.equal(committed.partitions[0].error, undefined, JSON.stringify(committed));
  const acq = await c.request({ api: Api.ShareAcquire, groupId: 'q', workerId: 'w', topics: ['orders'], maxRecords: 3, maxWaitMs: 0 });
  assert.equal(acq.error, undefined, JSON.stringify(acq.error));
  const ack = await c.request({ api: Api.ShareAck, groupId: 'q', workerId: 'w', entries: [{ topic: 'orders', partition: 0, offsets: [0, 1], type: 'ack' }] });
  assert.equal(ack.results[0].error, undefined, JSON.stringify(ack.results[0].error));
  c.close();
  assert.equal(await broker.stop(), 0);

  // One undecodable record appended to each state log, through the storage layer.
  const logs = await openLogManager(broker.dataDir, {}, { retentionCheckMs: 0 });
  const bad = new Map<string, { topic: string; offset: number; key: string }>();
  for (const [which, prefix] of [['offsets', '__consumer_offsets-'], ['share', '__share_state-']] as const) {
    const topics = logs.topics().filter((x) => x.name.startsWith(prefix));
    assert.equal(topics.length, 1, `one ${prefix}<n> topic: ${topics.map((x) => x.name)}`);
    const log = logs.log(topics[0].name, 0)!;
    const key = `not json (${which})`;
    const { baseOffset } = await log.append(encodeBatch([{ key, value: 'x' }]), { durable: true });
    bad.set(which, { topic: topics[0].name, offset: baseOffset, key });
  }
  await logs.close();

  await broker.restart(); // rejects when the broker does not come up
  c = await RawClient.connect(broker.url);
  t.after(() => c.close());
  const fetched = await c.request({ api: Api.OffsetFetch, groupId: 'keep', partitions: [{ topic: 'orders', partition: 0 }] });
  assert.deepEqual([fetched.partitions[0].offset, fetched.partitions[0].metadata], [2, 'm'], 'the committed offset is intact');
  const d = await c.request({ api: Api.ShareDescribe, groupIds: ['q'] });
  assert.equal(d.groups[0].error, undefined, JSON.stringify(d.groups[0].error));
  assert.equal(d.groups[0].acked, 2, 'the share group keeps its acks');
  assert.equal(d.groups[0].available, 1, 'and its unacked record');

  assert.deepEqual(await skippedCounts(broker.httpUrl), { offsets: 1, share: 1 });

  const lines = (await readFile(join(broker.dataDir, QUARANTINE_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2, JSON.stringify(lines));
  for (const b of bad.values()) {
    const q = lines.find((l) => l.topic === b.topic);
    assert.ok(q, `${b.topic} quarantined: ${JSON.stringify(lines)}`);
    assert.equal(q.partition, 0);
    assert.equal(q.offset, b.offset);
    assert.equal(Buffer.from(q.key, 'base64').toString(), b.key);
    assert.equal(Buffer.from(q.value, 'base64').toString(), 'x');
    assert.match(q.reason, /does not decode/);
    const logged = broker.logs().split('\n').filter((l) => l.includes('"state log record skipped"')).map((l) => JSON.parse(l));
    assert.ok(logged.some((l) => l.level === 'error' && l.topic === b.topic && l.offset === b.offset), `logged at error with its offset:\n${broker.logs()}`);
  }

  // The logs were rewritten without the records: the next start meets none, the state stays.
  c.close();
  await broker.restart();
  c = await RawClient.connect(broker.url);
  assert.deepEqual(await skippedCounts(broker.httpUrl), { offsets: 0, share: 0 });
  const again = await c.request({ api: Api.OffsetFetch, groupId: 'keep', partitions: [{ topic: 'orders', partition: 0 }] });
  assert.equal(again.partitions[0].offset, 2);
  assert.equal((await c.request({ api: Api.ShareDescribe, groupIds: ['q'] })).groups[0].acked, 2);
  assert.equal((await readFile(join(broker.dataDir, QUARANTINE_FILE), 'utf8')).trim().split('\n').length, 2, 'nothing quarantined twice');
});
