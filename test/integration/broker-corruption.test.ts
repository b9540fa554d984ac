/**
 * Damaged segments on a real broker process. After a clean restart nothing scans the
 * segments, so the read path must refuse a damaged batch: a consumer gets CORRUPT_MESSAGE
 * naming the partition and offset (never the bad bytes), the broker logs it at error and
 * counts it. After a crash, recovery truncates at the damage and reports the acknowledged
 * records it dropped at error level, with byte and record counts, and in a metric.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { batchOf, createTopic, produce, readAll } from './broker-helpers.js';
import { batchStarts, xorByte } from '../storage/helpers.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { Consumer } from '../../src/client/consumer.js';
import { BASE_OFFSET, RECORDS } from '../../src/record/index.js';

const SEG0 = '00000000000000000000.log';

async function metric(b: BrokerHandle, name: string, labels: Record<string, string>): Promise<number> {
  return valueOf(parseExposition(await (await fetch(`${b.httpUrl}/metrics`)).text()), name, labels);
}

function logEvents(b: BrokerHandle, event: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of b.logs().split('\n')) {
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      if (j.event === event) out.push(j);
    } catch { /* not a JSON line */ }
  }
  return out;
}

test('clean restart after a flipped base offset: the consumer gets CORRUPT_MESSAGE naming partition and offset, logged at error and counted', async () => {
  const broker = await startBroker();
  try {
    let c = await RawClient.connect(broker.url);
    // Index entries every 100 bytes: a clean open walks only the tail after the last one,
    // so damage to an early batch is left for the reads to find.
    await createTopic(c, 'damaged', 1, { indexIntervalBytes: 100 });
    for (let i = 0; i < 20; i++) await produce(c, 'damaged', 0, batchOf(Array.from({ length: 5 }, (_, j) => `r${i * 5 + j}`)));
    c.close();
    assert.equal(await broker.stop(), 0);
    const seg = join(broker.dataDir, 'damaged-0', SEG0);
    const starts = await batchStarts(seg);
    assert.equal(starts.length, 20);
    await xorByte(seg, starts[4] + BASE_OFFSET + 6, 0x01); // batch 4 (offsets 20..24) claims base offset 276
    await broker.restart();

    const consumer = new Consumer({ url: broker.url });
    const seen: number[] = [];
    try {
      await consumer.assign('damaged');
      consumer.seek({ topic: 'damaged', partition: 0 }, 'earliest');
      // Before the fix the consumer was served the damaged batch and never stopped (it
      // reset on OFFSET_OUT_OF_RANGE and went round again); 30 s leaves room for a stalled
      // machine, the answer takes well under a second.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no CORRUPT_MESSAGE after 30 s; offsets seen: ${seen.slice(0, 40).join(',')}...`)), 30_000);
      });
      await assert.rejects(Promise.race([(async () => {
        for await (const m of consumer) seen.push(m.offset);
      })(), stuck]).finally(() => clearTimeout(timer)), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CORRUPT_MESSAGE');
        assert.match(err.message, /damaged\/0/);
        assert.match(err.message, /corrupt at offset 20 /);
        assert.match(err.message, /base offset 276, expected 20/);
        return true;
      });
    } finally {
      await consumer.close();
    }
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i), 'every record before the damage, nothing after it');
    const logged = logEvents(broker, 'storage.read.corrupt');
    assert.ok(logged.length >= 1, broker.logs());
    assert.deepEqual([logged[0].level, logged[0].topic, logged[0].partition, logged[0].offset], ['error', 'damaged', 0, 20]);
    assert.equal(await metric(broker, 'sluice_corrupt_reads_total', { topic: 'damaged' }), logged.length);

    // The records after the damage are still there for a reader that starts past it.
    c = await RawClient.connect(broker.url);
    const after = await readAll(c, 'damaged', 0, 40);
    assert.deepEqual(after.map(([o]) => o), Array.from({ length: 60 }, (_, i) => 40 + i));
    c.close();
  } finally {
    await broker.stop();
  }
});

test('crash, then a damaged batch: recovery drops it and what follows, logged at error with byte and record counts and counted', async () => {
  const broker = await startBroker();
  try {
    let c = await RawClient.connect(broker.url);
    await createTopic(c, 'lost');
    for (let i = 0; i < 100; i++) {
      const res = await produce(c, 'lost', 0, batchOf([`r${i}`]), -1);
      assert.equal(res.partitions[0].error, undefined);
    }
    c.close();
    await broker.kill();
    const seg = join(broker.dataDir, 'lost-0', SEG0);
    const starts = await batchStarts(seg);
    assert.equal(starts.length, 100);
    const size = (await readFile(seg)).length;
    await xorByte(seg, starts[50] + RECORDS + 2, 0x5a); // CRC-covered: only a CRC check sees it
    await broker.restart();

    const truncated = logEvents(broker, 'storage.recovery.truncated');
    assert.equal(truncated.length, 1, broker.logs());
    const t = truncated[0];
    assert.equal(t.level, 'error');
    assert.deepEqual([t.topic, t.partition, t.offset, t.droppedBytes, t.droppedRecords], ['lost', 0, 50, size - starts[50], 50]);
    assert.match(String(t.reason), /CRC-32C/);
    assert.equal(await metric(broker, 'sluice_recovery_dropped_records_total', { topic: 'lost' }), 50);
    assert.equal(await metric(broker, 'sluice_recovery_dropped_bytes_total', { topic: 'lost' }), size - starts[50]);
    c = await RawClient.connect(broker.url);
    assert.equal((await readAll(c, 'lost', 0)).length, 50);
    c.close();
  } finally {
    await broker.stop();
  }
});
