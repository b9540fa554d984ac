/**
 * A fitOnly read (ReadOptions: every partition after the first of a fetch) probes the batch
 * headers before reading data. When the probe already reached the segment's end or maxBytes
 * (a small segment's tail: each idle partition of a 20,000-partition fetch), the answer is cut
 * from it: one read call, not two. The answer is the one a second read would give.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

function readCounting(): { fs: FileSystem; reads: { n: number } } {
  const reads = { n: 0 };
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      const fh = await nodeFileSystem.open(path, flags);
      return Object.assign(Object.create(fh) as typeof fh, {
        read: (...a: Parameters<typeof fh.read>) => { reads.n++; return fh.read(...a); },
        sync: fh.sync.bind(fh), datasync: fh.datasync.bind(fh), write: fh.write.bind(fh), writev: fh.writev.bind(fh),
        truncate: fh.truncate.bind(fh), stat: fh.stat.bind(fh), close: fh.close.bind(fh),
      });
    },
  };
  return { fs, reads };
}

const offsets = (b: Buffer) => recordsIn(b).map((r) => r.offset);

test('a fitOnly read whose probe reached the segment end or maxBytes makes one read call and answers as the full read does', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const pdir = join(dir, 't-0');
    const { fs, reads } = readCounting();
    // indexIntervalBytes is the probe's window: 4,096 bytes after the header here.
    const log = await DiskPartitionLog.open(pdir, 't', 0, effectiveConfig({ indexIntervalBytes: 4096 }), { fs });
    for (let i = 0; i < 3; i++) await log.append(batchOf(2, i * 2));
    const whole = (await log.read(0, 1 << 20)).bytes;
    const batch = whole.length / 3;

    reads.n = 0;
    assert.deepEqual(offsets((await log.read(0, 1 << 20, { fitOnly: true })).bytes), [0, 1, 2, 3, 4, 5]);
    assert.equal(reads.n, 1, 'the probe held the whole segment');
    reads.n = 0;
    assert.deepEqual(offsets((await log.read(2, 2 * batch + 10, { fitOnly: true })).bytes), [2, 3, 4, 5]);
    assert.equal(reads.n, 1);
    reads.n = 0;
    assert.deepEqual(offsets((await log.read(0, 2 * batch - 1, { fitOnly: true })).bytes), [0, 1], 'cut to the whole batches within maxBytes');
    assert.equal(reads.n, 1);
    assert.equal((await log.read(0, batch - 1, { fitOnly: true })).bytes.length, 0, 'the first batch does not fit');

    // Past the probe's window: the data is read from the batch found, as before.
    for (let i = 3; i < 150; i++) await log.append(batchOf(2, i * 2, undefined, 20));
    const all = offsets((await log.read(0, 1 << 20)).bytes);
    assert.equal(all.length, 300);
    reads.n = 0;
    assert.deepEqual(offsets((await log.read(0, 1 << 20, { fitOnly: true })).bytes), all);
    assert.equal(reads.n, 2);
    await log.close();
  } finally {
    await cleanup();
  }
});
