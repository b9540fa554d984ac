/**
 * The LRU of open segment files (src/storage/open-file-cache.ts): capacity, LRU order,
 * pins that keep a handle open whatever the cache does, EMFILE retried after evicting (or
 * after a release), and no descriptor leaked, by examples and by a fast-check model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { OpenFileCache, type CachedFile } from '../../src/storage/open-file-cache.js';
import { StorageError } from '../../src/storage/errors.js';
import { FdLimitedFs } from './fd-limited-fs.js';
import { tempDir } from './helpers.js';

async function files(dir: string, n: number): Promise<string[]> {
  const paths = Array.from({ length: n }, (_, i) => join(dir, `f${i}`));
  for (const [i, p] of paths.entries()) await writeFile(p, `file ${i}`);
  return paths;
}

async function readAll(f: CachedFile): Promise<string> {
  return f.use(async (fh) => {
    const b = Buffer.alloc(32);
    const { bytesRead } = await fh.read(b, 0, 32, 0);
    return b.subarray(0, bytesRead).toString();
  });
}

test('the cache keeps at most `capacity` idle handles open, closes the least recently used first, and reopens on demand', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const disk = new FdLimitedFs(1000);
    const cache = new OpenFileCache(3);
    const entries = (await files(dir, 5)).map((p) => cache.file(disk.fs, p));
    for (const f of entries.slice(0, 3)) await readAll(f);
    assert.equal(disk.open, 3);
    await readAll(entries[0]); // 0 becomes the most recently used: 1 is now the oldest
    await readAll(entries[3]);
    assert.deepEqual(entries.map((f) => f.isOpen), [true, false, true, true, false], 'f1 (least recently used) was closed');
    assert.equal(cache.stats().open, 3);
    assert.equal(cache.stats().evictions, 1);
    assert.equal(await readAll(entries[1]), 'file 1', 'an evicted file reopens on its next use');
    assert.deepEqual(entries.map((f) => f.isOpen), [true, true, false, true, false], 'f2 went next');
    await new Promise((r) => setImmediate(r));
    assert.equal(disk.open, 3, 'evicted handles are really closed');
    for (const f of entries) await f.close();
    assert.equal(disk.open, 0);
    assert.equal(cache.stats().open, 0);
  } finally {
    await cleanup();
  }
});

test('a pinned handle is never closed: the cache goes over capacity while everything is pinned and trims back on release', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const disk = new FdLimitedFs(1000);
    const cache = new OpenFileCache(2);
    const entries = (await files(dir, 6)).map((p) => cache.file(disk.fs, p));
    const held = await Promise.all(entries.slice(0, 4).map((f) => f.pinOpen()));
    for (const f of entries.slice(4)) await readAll(f); // churn while four are pinned
    assert.deepEqual(entries.slice(0, 4).map((f) => f.isOpen), [true, true, true, true]);
    for (const fh of held) assert.equal((await fh.stat()).size, 6, 'each pinned handle still works');
    assert.equal(disk.useAfterClose, 0);
    for (const f of entries.slice(0, 4)) f.unpin();
    await new Promise((r) => setImmediate(r));
    assert.equal(cache.stats().open, 2, 'back within capacity once released');
    assert.equal(disk.open, 2);
    for (const f of entries) await f.close();
    assert.equal(disk.open, 0);
  } finally {
    await cleanup();
  }
});

test('close() of a pinned file waits for the last pin; concurrent pins of a closed file share one open', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const disk = new FdLimitedFs(1000);
    const cache = new OpenFileCache(10);
    const [p] = await files(dir, 1);
    const f = cache.file(disk.fs, p);
    const [a, b] = await Promise.all([f.pinOpen(), f.pinOpen()]);
    assert.equal(a, b);
    assert.equal(disk.open, 1, 'one descriptor for two concurrent pins');
    await f.close();
    assert.equal(disk.open, 1, 'still open: pinned');
    f.unpin();
    assert.equal(disk.open, 1);
    f.unpin();
    await new Promise((r) => setImmediate(r));
    assert.equal(disk.open, 0, 'closed with the last pin');
    await assert.rejects(f.pinOpen(), StorageError);
  } finally {
    await cleanup();
  }
});

test('EMFILE on an open evicts idle handles and retries; with nothing idle it waits for a release; with none in time it fails retriable', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // The process limit (3) is below the cache's capacity (100): only EMFILE can keep it in bounds.
    const disk = new FdLimitedFs(3);
    const cache = new OpenFileCache(100, { emfileWaitMs: 300 });
    const entries = (await files(dir, 6)).map((p) => cache.file(disk.fs, p));
    for (const f of entries.slice(0, 3)) await readAll(f);
    assert.equal(await readAll(entries[3]), 'file 3', 'served after evicting an idle handle');
    assert.ok(disk.refused >= 1 && cache.stats().emfileRetries >= 1);
    assert.ok(cache.stats().evictions >= 1);
    // Pin all three descriptors' worth: the next open must wait for a release.
    const pinned = entries.slice(0, 3);
    for (const f of pinned) await f.pinOpen();
    assert.equal(disk.open, 3);
    let served = false;
    const waiting = readAll(entries[5]).then((s) => { served = true; return s; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(served, false, 'no descriptor free: waits');
    pinned[0].unpin();
    assert.equal(await waiting, 'file 5', 'served once a pin was released');
    pinned[1].unpin();
    pinned[2].unpin();
    // All three descriptors pinned again, and nobody releases: the open fails, retriable, naming the cause.
    for (const f of entries.slice(3, 6)) await f.pinOpen();
    const err = await readAll(entries[0]).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StorageError, String(err));
    assert.equal(err.retriable, true);
    assert.match(err.message, /out of file descriptors.*EMFILE/);
    for (const f of entries.slice(3, 6)) f.unpin();
    for (const f of entries) await f.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(disk.open, 0);
    assert.equal(disk.useAfterClose, 0);
  } finally {
    await cleanup();
  }
});

test('model: under any sequence of pins, releases, closes and opens, no handle is closed while pinned, none leaks, and idle ones stay within capacity', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const paths = await files(dir, 8);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('pin' as const), f: fc.nat(7) }),
      fc.record({ kind: fc.constant('unpin' as const), f: fc.nat(7) }),
      fc.record({ kind: fc.constant('read' as const), f: fc.nat(7) }),
      fc.record({ kind: fc.constant('close' as const), f: fc.nat(7) }),
    );
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 6 }), fc.array(op, { maxLength: 60 }), async (capacity, limit, ops) => {
      const disk = new FdLimitedFs(limit);
      const cache = new OpenFileCache(capacity);
      const entries = paths.map((p) => cache.file(disk.fs, p));
      const pins = new Array<number>(8).fill(0);
      const closed = new Array<boolean>(8).fill(false);
      for (const { kind, f } of ops) {
        const e = entries[f];
        if (kind === 'pin' && !closed[f] && pins.reduce((a, b) => a + b, 0) < limit - 1) {
          await e.pinOpen();
          pins[f]++;
        } else if (kind === 'unpin' && pins[f] > 0) {
          e.unpin();
          pins[f]--;
        } else if (kind === 'read' && !closed[f] && pins.filter((n) => n > 0).length < limit) {
          assert.equal(await readAll(e), `file ${f}`);
        } else if (kind === 'close') {
          await e.close();
          closed[f] = true;
        }
        for (let i = 0; i < 8; i++) if (pins[i] > 0 && !closed[i]) assert.ok(entries[i].isOpen, `file ${i} is pinned, so open`);
        const pinnedOpen = pins.filter((n, i) => n > 0 && entries[i].isOpen).length;
        assert.ok(cache.stats().open - pinnedOpen <= capacity, 'idle handles within capacity');
        assert.equal(disk.useAfterClose, 0, 'no call on a closed handle');
      }
      for (let i = 0; i < 8; i++) while (pins[i]-- > 0) entries[i].unpin();
      for (const e of entries) await e.close();
      await new Promise((r) => setImmediate(r));
      assert.equal(disk.open, 0, 'no descriptor leaked');
      assert.equal(cache.stats().open, 0);
    }), { numRuns: 150 });
  } finally {
    await cleanup();
  }
});
