import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLogManager } from '../../src/storage/log-manager.js';
import { batchOf, tempDir } from './helpers.js';

test('onFsync is called once per segment fsync with a plausible duration, through the log manager', async () => {
  const { dir, cleanup } = await tempDir();
  const seen: number[] = [];
  try {
    const mgr = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0, onFsync: (s) => seen.push(s) });
    await mgr.createTopic('t', 1);
    const log = mgr.log('t', 0)!;
    await log.append(batchOf(3, 0));
    assert.equal(seen.length, 0, 'no fsync without durable appends or a flush');
    await log.append(batchOf(3, 3), { durable: true });
    assert.equal(seen.length, 1);
    assert.equal(log.stats().fsyncCount, 1);
    await log.flush();
    assert.equal(seen.length, 1, 'nothing unflushed: no fsync, no call');
    await log.append(batchOf(1, 6));
    await log.flush();
    assert.equal(seen.length, 2);
    for (const s of seen) assert.ok(s >= 0 && s < 10, `duration ${s}`);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('a log without onFsync still fsyncs (hook is optional)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    await mgr.createTopic('t', 1);
    await mgr.log('t', 0)!.append(batchOf(2, 0), { durable: true });
    assert.equal(mgr.log('t', 0)!.stats().fsyncCount, 1);
    await mgr.close();
  } finally {
    await cleanup();
  }
});
