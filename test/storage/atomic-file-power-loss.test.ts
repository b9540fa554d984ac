/**
 * writeFileAtomic (topics.json, recovery-point, .clean-shutdown) on a simulated power loss
 * (crash-disk.ts, strict directory semantics): whatever call the crash lands in, the file
 * afterwards holds the old content or the new one, whole; once the call returned, the new.
 * A call that fails (I/O error) must not return as if the file were durable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readOptionalText, writeFileAtomic } from '../../src/storage/atomic-file.js';
import { CrashDisk } from './crash-disk.js';

const DIR = '/data';
const FILE = join(DIR, 'topics.json');
const OLD = 'old content, long enough that a partial file would show'.repeat(4);
const NEW = 'new content';

/** How many file-system calls one writeFileAtomic makes (open, write, fsync, rename, open dir, fsync dir). */
async function callsOfOneWrite(): Promise<number> {
  const disk = new CrashDisk();
  disk.prepareDir(DIR);
  await writeFileAtomic(FILE, NEW, disk.mount());
  return disk.ops;
}

for (const before of [OLD, null]) {
  test(`a crash at any call of writeFileAtomic leaves the ${before === null ? 'file missing' : 'old content'} or the new content, and the new once it returned`, async () => {
    const calls = await callsOfOneWrite();
    assert.ok(calls >= 6, `${calls} calls`);
    for (let crashAt = 1; crashAt <= calls + 1; crashAt++) {
      const disk = new CrashDisk();
      disk.prepareDir(DIR);
      if (before !== null) await writeFileAtomic(FILE, before, disk.mount());
      disk.crashAfterOps(crashAt);
      const returned = await writeFileAtomic(FILE, NEW, disk.mount()).then(() => true, () => false);
      assert.equal(returned, crashAt > calls, `crash at call ${crashAt}: an answer after the crash means an error was swallowed`);
      if (disk.crashes === 0) disk.crash();
      const got = await readOptionalText(FILE, disk.mount());
      if (returned) assert.equal(got, NEW, `returned before the crash at call ${crashAt}`);
      else assert.ok(got === before || got === NEW, `crash at call ${crashAt}: ${JSON.stringify(got)}`);
    }
  });
}

test('writeFileAtomic fails when the directory fsync fails with an I/O error, and ignores a filesystem that cannot fsync directories', async () => {
  const disk = new CrashDisk();
  disk.prepareDir(DIR);
  const fs = disk.mount();
  disk.failNext('fsync', 'EIO', DIR);
  await assert.rejects(writeFileAtomic(FILE, NEW, fs), { code: 'EIO' }, 'the rename may not be durable: the caller must know');
  disk.failNext('fsync', 'EINVAL', DIR);
  await writeFileAtomic(FILE, NEW, fs);
  assert.equal(await readOptionalText(FILE, fs), NEW);
});
