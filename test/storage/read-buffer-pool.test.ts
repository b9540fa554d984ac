import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import { openLogManager } from '../../src/storage/log-manager.js';
import type { LogConfig, PartitionLog } from '../../src/storage/types.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

test('a returned buffer is lent again for a read of the same size class', () => {
  const pool = new ReadBufferPool();
  const a = pool.acquire(100_000);
  assert.ok(a.length >= 100_000);
  pool.release(a.subarray(10, 20)); // any view of it returns the whole buffer
  assert.equal(pool.kept, a.buffer.byteLength);
  const b = pool.acquire(120_000); // same 64 KiB class
  assert.equal(b.buffer, a.buffer);
  assert.equal(pool.kept, 0);
  const c = pool.acquire(1_000_000); // another class: fresh memory
  assert.notEqual(c.buffer, a.buffer);
});

test('buffers the pool did not lend, or lent and already returned, are ignored', () => {
  const pool = new ReadBufferPool();
  pool.release(Buffer.alloc(70_000));
  assert.equal(pool.kept, 0);
  const a = pool.acquire(70_000);
  pool.release(a);
  pool.release(a);
  assert.equal(pool.kept, a.buffer.byteLength);
  const b = pool.acquire(70_000);
  const c = pool.acquire(70_000);
  assert.notEqual(b.buffer, c.buffer, 'a double release must not lend one buffer twice');
});

test('the pool keeps at most maxKeptBytes; other size classes make room for a returned buffer', () => {
  const pool = new ReadBufferPool(256 * 1024);
  const bufs = Array.from({ length: 4 }, () => pool.acquire(128 * 1024));
  for (const b of bufs) pool.release(b);
  assert.equal(pool.kept, 256 * 1024);
  // Odd sizes (reads at segment ends) fill the pool...
  const odd = [pool.acquire(60_000), pool.acquire(60_000), pool.acquire(190_000)];
  for (const b of odd) pool.release(b);
  assert.equal(pool.kept, 256 * 1024);
  // ...and a common-size buffer coming back evicts them rather than being dropped.
  const common = pool.acquire(128 * 1024);
  pool.release(common);
  assert.equal(pool.acquire(128 * 1024).buffer, common.buffer);
});

/** A one-partition log in a temp dir, closed and removed after the test. */
async function tempLog(t: TestContext, config: Partial<LogConfig> = {}): Promise<PartitionLog> {
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, config, { retentionCheckMs: 0 });
  t.after(async () => {
    await logs.close();
    await cleanup();
  });
  await logs.createTopic('t', 1);
  return logs.log('t', 0)!;
}

test('pooled log reads return the same records as plain reads, and reuse returned buffers', async (t) => {
  const log = await tempLog(t, { segmentBytes: 64 * 1024 });
  for (let i = 0; i < 40; i++) await log.append(batchOf(50, i * 50, undefined, 40));
  const pool = new ReadBufferPool();
  let reused = 0;
  let prev: ArrayBufferLike | null = null;
  for (let offset = 0; offset < 2000; offset += 37) {
    const plain = await log.read(offset, 16 * 1024);
    const pooled = await log.read(offset, 16 * 1024, { pool });
    assert.deepEqual(recordsIn(pooled.bytes), recordsIn(plain.bytes), `records at ${offset}`);
    if (pooled.bytes.buffer === prev) reused++;
    prev = pooled.bytes.buffer;
    pool.release(pooled.bytes);
  }
  assert.ok(reused > 40, `reads that reused the previous read's buffer: ${reused} of 55`);
});

test('fitOnly reads return only whole batches within maxBytes, nothing when the first is larger', async (t) => {
  const log = await tempLog(t);
  // Ten batches of 100 records (~3 KB each with the padding), then one of 2000 (~60 KB).
  for (let i = 0; i < 10; i++) await log.append(batchOf(100, i * 100, undefined, 20));
  await log.append(batchOf(2000, 1000, undefined, 20));
  const pool = new ReadBufferPool();
  const one = (await log.read(200, 1)).bytes.length; // one batch (values v200..v299: batches 2-9 have this size)
  assert.equal((await log.read(200, one - 1, { fitOnly: true, pool })).bytes.length, 0, 'first batch larger than maxBytes');
  const fit = await log.read(250, 3 * one + 10, { fitOnly: true, pool });
  assert.deepEqual(recordsIn(fit.bytes).map((r) => r.offset), Array.from({ length: 300 }, (_, i) => 200 + i));
  // Same bytes as a plain read of the same range.
  assert.deepEqual(fit.bytes, (await log.read(250, 3 * one + 10)).bytes);
  // The big last batch: nothing under its size, all of it at its size.
  const big = (await log.read(1000, 1)).bytes.length;
  assert.equal((await log.read(1500, big - 1, { fitOnly: true })).bytes.length, 0);
  assert.equal(recordsIn((await log.read(1500, big, { fitOnly: true })).bytes).length, 2000);
});
