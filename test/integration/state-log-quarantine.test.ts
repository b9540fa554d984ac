// A record in the offsets log or the share state log that does not decode (written here
// through the storage layer, as the queue's dead-letter path once could) no longer keeps the
// broker from starting: the record is skipped, logged at error with its offset, counted in
// sluice_state_records_skipped_total, and copied to <data-dir>/quarantine.jsonl; every other
// group keeps its state. The log is then rewritten without it, so the next start is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { batchOf, createTopic, produce } from './broker-helpers.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { Api } from '../../src/protocol/api.js';
import { batchSizeAt, decodeBatch, encodeBatch } from '../../src/record/index.js';
import { openLogManager } from '../../src/storage/log-manager.js';
import { QUARANTINE_FILE } from '../../src/storage/quarantine-file.js';
import { xorByte } from '../storage/helpers.js';

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

/**
 * Flips a bit inside the last stored batch of the state log `<prefix><n>` that holds a record
 * of `group` (state log keys are JSON arrays naming the group); returns its topic and offset.
 */
async function damageLastBatchOf(dataDir: string, prefix: string, group: string): Promise<{ topic: string; offset: number; size: number }> {
  const dirs = (await readdir(dataDir)).filter((d) => d.startsWith(prefix) && d.endsWith('-0'));
  assert.equal(dirs.length, 1, `one ${prefix}<n> log: ${dirs}`);
  const file = join(dataDir, dirs[0], '00000000000000000000.log');
  const bytes = await readFile(file);
  let found: { pos: number; size: number; offset: number } | undefined;
  for (let pos = 0; pos < bytes.length; pos += batchSizeAt(bytes, pos)) {
    const b = decodeBatch(bytes, pos);
    if (b.records.some((r) => (JSON.parse(r.key!.toString()) as unknown[])[1] === group)) found = { pos, size: batchSizeAt(bytes, pos), offset: b.header.baseOffset };
  }
  assert.ok(found, `a batch of ${group} in ${file}`);
  await xorByte(file, found.pos + found.size - 2, 0x10); // in its last record: the CRC fails, the header holds
  return { topic: dirs[0].slice(0, -2), offset: found.offset, size: found.size };
}

test('a batch whose bytes changed on disk in the offsets log and in the share state log is skipped, counted and quarantined; the broker starts and later state is intact', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  let c = await RawClient.connect(broker.url);
  await createTopic(c, 'orders');
  await createTopic(c, 'mail');
  await produce(c, 'orders', 0, batchOf(['a', 'b', 'c']));
  await produce(c, 'mail', 0, batchOf(['x', 'y', 'z']));
  // One commit is one batch: 'lost' is damaged below, 'before' and 'after' surround it.
  for (const [groupId, offset] of [['before', 1], ['lost', 2], ['after', 3]] as const) {
    const r = await c.request({ api: Api.OffsetCommit, groupId, partitions: [{ topic: 'orders', partition: 0, offset, metadata: groupId }] });
    assert.equal(r.partitions[0].error, undefined, JSON.stringify(r));
  }
  // Share groups: 'q' has its last batch damaged below; 'r' is written after it.
  for (const [groupId, topic] of [['q', 'orders'], ['r', 'mail']] as const) {
    const acq = await c.request({ api: Api.ShareAcquire, groupId, workerId: 'w', topics: [topic], maxRecords: 3, maxWaitMs: 0 });
    assert.equal(acq.error, undefined, JSON.stringify(acq.error));
    const ack = await c.request({ api: Api.ShareAck, groupId, workerId: 'w', entries: [{ topic, partition: 0, offsets: [0, 1], type: 'ack' }] });
    assert.equal(ack.results[0].error, undefined, JSON.stringify(ack.results[0].error));
  }
  c.close();
  assert.equal(await broker.stop(), 0); // clean: the next start does not scan the segments again

  const damaged = [
    await damageLastBatchOf(broker.dataDir, '__consumer_offsets-', 'lost'),
    await damageLastBatchOf(broker.dataDir, '__share_state-', 'q'),
  ];

  await broker.restart(); // rejects when the broker does not come up
  c = await RawClient.connect(broker.url);
  t.after(() => c.close());
  const offsets = async (groupId: string) =>
    (await c.request({ api: Api.OffsetFetch, groupId, partitions: [{ topic: 'orders', partition: 0 }] })).partitions[0].offset;
  assert.deepEqual([await offsets('before'), await offsets('lost'), await offsets('after')], [1, -1, 3],
    'the commits before and after the damaged batch are intact');
  const r = (await c.request({ api: Api.ShareDescribe, groupIds: ['r'] })).groups[0];
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.deepEqual([r.acked, r.available], [2, 1], 'the share group written after the damaged batch keeps its acks');
  assert.deepEqual(await skippedCounts(broker.httpUrl), { offsets: 1, share: 1 });

  const lines = (await readFile(join(broker.dataDir, QUARANTINE_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const logged = broker.logs().split('\n').filter((l) => l.includes('"state log record skipped"')).map((l) => JSON.parse(l));
  for (const d of damaged) {
    const q = lines.find((l) => l.topic === d.topic);
    assert.ok(q, `${d.topic} quarantined: ${JSON.stringify(lines)}`);
    assert.equal(q.offset, d.offset);
    assert.equal(q.key, null);
    assert.equal(Buffer.from(q.value, 'base64').length, d.size, 'the stored batch, whole');
    assert.match(q.reason, /CRC/);
    assert.ok(logged.some((l) => l.level === 'error' && l.topic === d.topic && l.offset === d.offset), `logged at error with its offset:\n${broker.logs()}`);
  }

  // The logs were rewritten without the damaged batches: the next start meets none.
  c.close();
  await broker.restart();
  c = await RawClient.connect(broker.url);
  assert.deepEqual(await skippedCounts(broker.httpUrl), { offsets: 0, share: 0 });
  assert.equal(await offsets('after'), 3);
});
