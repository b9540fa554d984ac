/** The single-node producer id source: unique ids, durable across restarts, claimed a block at a time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRODUCER_IDS_FILE, ProducerIdCounter } from '../../src/storage/producer-id-counter.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { tempDir } from './helpers.js';

test('ids are distinct under concurrent calls, and a restart never hands out one it handed out before', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const a = new ProducerIdCounter(dir, 10);
  const first = await Promise.all(Array.from({ length: 25 }, () => a.nextId()));
  assert.equal(new Set(first).size, 25);
  assert.deepEqual([...first].sort((x, y) => x - y), Array.from({ length: 25 }, (_, i) => i));
  assert.equal((await readFile(join(dir, PRODUCER_IDS_FILE), 'utf8')).trim(), '30', 'the block in use is claimed on disk before its ids go out');
  // A restart (or a crash: the file was written before the ids were handed out) skips the rest of the block.
  const b = new ProducerIdCounter(dir, 10);
  assert.equal(await b.nextId(), 30);
});

test('a failed claim hands out nothing; a file that is not a number is named in the error', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const failing: FileSystem = { ...nodeFileSystem, rename: () => Promise.reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' })) };
  await assert.rejects(new ProducerIdCounter(dir, 10, failing).nextId(), (e: unknown) => (e as { code?: string }).code === 'STORAGE_ERROR' && /claim producer ids 0\.\.9.*disk full/.test((e as Error).message));
  assert.equal(await new ProducerIdCounter(dir, 10).nextId(), 0, 'nothing was claimed, so nothing is skipped either');
  await writeFile(join(dir, PRODUCER_IDS_FILE), 'banana');
  await assert.rejects(new ProducerIdCounter(dir).nextId(), /producer-ids holds 'banana', not a producer id/);
});
