/**
 * A fetch of many partitions on a broker with more partitions than open-file slots: the
 * partitions are read one after another (the response budget decides what the next may
 * return), and most of their segment files were closed by the LRU. The handler opens the
 * files of the partitions ahead of the one it reads (PartitionLog.prefetch), so the opens
 * overlap instead of each read waiting for its own: 20,000 partitions took 24 s to fetch
 * when every open was waited for in turn (test/integration/open-files.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleFetch } from '../../src/broker/handle-fetch.js';
import { Api, type FetchRequest } from '../../src/protocol/api.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { OpenFileCache } from '../../src/storage/open-file-cache.js';
import { batchOf, recordsIn } from '../storage/helpers.js';
import { testContext } from './test-context.js';

const PARTITIONS = 40;

test('a wide fetch opens the closed segment files of the partitions ahead while it reads, and answers every partition', async () => {
  // Counts .log opens in flight at once (each held a few event-loop turns, as a loaded thread pool would).
  const gauge = { now: 0, max: 0, on: false };
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      if (!gauge.on || !path.endsWith('.log')) return nodeFileSystem.open(path, flags);
      gauge.max = Math.max(gauge.max, ++gauge.now);
      try {
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        return await nodeFileSystem.open(path, flags);
      } finally {
        gauge.now--;
      }
    },
  };
  const files = new OpenFileCache(4);
  const t = await testContext({ fs, openFiles: files });
  try {
    await t.logs.createTopic('wide', PARTITIONS);
    for (let p = 0; p < PARTITIONS; p++) await t.logs.log('wide', p)!.append(batchOf(1, p));
    assert.ok(files.stats().open <= 4, `the LRU closed idle files: ${files.stats().open} open`);

    gauge.on = true;
    const req = {
      id: 1, api: Api.Fetch, version: 0, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20,
      partitions: Array.from({ length: PARTITIONS }, (_, p) => ({ topic: 'wide', partition: p, offset: 0, maxBytes: 4096 })),
    } as FetchRequest;
    const res = await handleFetch(t.ctx, req, undefined);
    gauge.on = false;
    assert.equal(res.partitions.length, PARTITIONS);
    for (const [p, r] of res.partitions.entries()) {
      assert.equal(r.error, undefined, `partition ${p}`);
      assert.deepEqual(recordsIn(r.records as Buffer).map((x) => x.offset), [0], `partition ${p}`);
    }
    // One at a time (max 1) without the prefetch.
    assert.ok(gauge.max > 4, `opens in flight at once: ${gauge.max}`);
    assert.ok(files.stats().open <= 4 + 1, `back within the budget: ${files.stats().open} open`);
  } finally {
    await t.close();
  }
});
