/**
 * The simulated disk's own rules (crash-disk.ts), since the power-loss tests are only as
 * good as its model: unsynced data goes, names need a directory fsync in strict mode, an
 * fsync covers only what was written before it, dead mounts refuse every call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashDisk } from './crash-disk.js';

const b = (s: string) => Buffer.from(s);

test('a crash keeps file content as of the last fsync and drops the rest', async () => {
  const disk = new CrashDisk({ directories: 'immediate' });
  disk.prepareDir('/d');
  const fs = disk.mount();
  const fh = await fs.open('/d/f', 'w+');
  await fh.write(b('hello'), 0, 5, 0);
  await fh.datasync();
  await fh.write(b(' world'), 0, 6, 5);
  assert.equal(disk.contentOf('/d/f')!.toString(), 'hello world');
  disk.crash();
  await assert.rejects(fh.write(b('x'), 0, 1, 0), { code: 'EIO' }, 'the dead process writes nothing');
  await assert.rejects(fs.readFile('/d/f'), { code: 'EIO' });
  assert.equal((await disk.mount().readFile('/d/f')).toString(), 'hello');
});

test('strict directories: a new name, a rename and an unlink are durable only after the directory fsync', async () => {
  const disk = new CrashDisk();
  disk.prepareDir('/d');
  let fs = disk.mount();
  const fh = await fs.open('/d/a', 'w');
  await fh.write(b('A'), 0, 1, 0);
  await fh.sync();
  disk.crash();
  fs = disk.mount();
  assert.deepEqual(await fs.readdir('/d'), [], 'file fsynced, directory not: the name is gone');

  const f2 = await fs.open('/d/a', 'w');
  await f2.write(b('A'), 0, 1, 0);
  await f2.sync();
  const dir = await fs.open('/d', 'r');
  await dir.sync();
  await fs.rename('/d/a', '/d/b');
  disk.crash();
  fs = disk.mount();
  assert.deepEqual(await fs.readdir('/d'), ['a'], 'the rename was not made durable');
  assert.equal((await fs.readFile('/d/a')).toString(), 'A');

  await fs.unlink('/d/a');
  disk.crash();
  assert.deepEqual(await disk.mount().readdir('/d'), ['a'], 'the unlink was not made durable');
});

test('an fsync covers what was written before it was called, not writes made while it runs', async () => {
  const disk = new CrashDisk();
  disk.prepareDir('/d');
  const fs = disk.mount();
  const fh = await fs.open('/d/f', 'w+');
  await (await fs.open('/d', 'r')).sync();
  await fh.write(b('one'), 0, 3, 0);
  const syncing = fh.datasync();
  await fh.write(b('two'), 0, 3, 3);
  await syncing;
  disk.crash();
  assert.equal((await disk.mount().readFile('/d/f')).toString(), 'one');
});

test('crashAfterOps crashes inside the n-th call, and failNext fails one call without a crash', async () => {
  const disk = new CrashDisk({ directories: 'immediate' });
  disk.prepareDir('/d');
  const fs = disk.mount();
  disk.failNext('unlink', 'EIO');
  await fs.open('/d/f', 'w');
  await assert.rejects(fs.unlink('/d/f'), { code: 'EIO' });
  assert.equal(disk.crashes, 0);
  disk.crashAfterOps(2);
  await fs.stat('/d/f');
  await assert.rejects(fs.unlink('/d/f'), { code: 'EIO' });
  assert.equal(disk.crashes, 1);
  assert.deepEqual(await disk.mount().readdir('/d'), ['f']);
});
