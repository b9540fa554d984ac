/**
 * LocalLogs runs retention on a setInterval with no guard against a pass still running (a slow
 * disk, a stall), so two passes can run over one log. Each pass must count the size that is
 * left, not the size it saw when it started: a pass that kept its own running total did not
 * see the other pass's deletions and deleted segments the size limit keeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/record/index.js';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { tempDir } from './helpers.js';

function batch(i: number): Buffer {
  return encodeBatch([{ value: `record-${String(i).padStart(4, '0')}`, timestamp: Date.now() }]);
}

test('two retention passes at once on one log delete no more than the size limit asks', async (t) => {
  const { dir, cleanup } = await tempDir();
  const sizeOf = batch(0).length;
  // One segment per batch (records of now: time retention deletes none); keep at least 3 batches' bytes.
  const cfg = effectiveConfig({ segmentBytes: 1, retentionBytes: 3 * sizeOf });
  const log = await DiskPartitionLog.open(dir, 't', 0, cfg);
  t.after(async () => {
    await log.close().catch(() => {});
    await cleanup();
  });
  for (let i = 0; i < 8; i++) await log.append(batch(i));
  const before = log.stats();

  const [a, b] = await Promise.all([log.enforceRetention(), log.enforceRetention()]);
  const after = log.stats();
  assert.ok(after.sizeBytes >= 3 * sizeOf,
    `the log keeps the retention.bytes it was asked to keep: ${after.sizeBytes} < ${3 * sizeOf} (passes deleted ${a} + ${b} of ${before.segmentCount} segments)`);
  // One pass alone would delete down to the limit too: the two together delete the same.
  assert.equal(a + b, before.segmentCount - after.segmentCount);
  assert.ok(after.logStartOffset <= 5, `records 5-7 stay readable (log start ${after.logStartOffset})`);
});
