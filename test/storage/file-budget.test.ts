/**
 * The budget of open segment files (src/storage/file-budget.ts) and the broker's start-up
 * check of it (openFileBudget, src/broker/open-logs.ts): half the file limit by default, an
 * explicit setting that does not fit under the limit refused naming both numbers, a low limit
 * warned about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_OPEN_SEGMENT_FILES, RESERVED_FDS, UNKNOWN_LIMIT_BUDGET, processFileLimit, segmentFileBudget } from '../../src/storage/file-budget.js';
import { openFileBudget } from '../../src/broker/open-logs.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/config/config-error.js';
import { createLogger } from '../../src/broker/logger.js';

test('auto (0) is half the limit, at least the minimum; unknown limits get a fixed budget; explicit settings are kept when they fit', () => {
  assert.equal(segmentFileBudget(0, 4096).capacity, 2048);
  assert.equal(segmentFileBudget(0, 1_048_576).capacity, 524_288);
  assert.equal(segmentFileBudget(0, 20).capacity, MIN_OPEN_SEGMENT_FILES);
  assert.equal(segmentFileBudget(0, null).capacity, UNKNOWN_LIMIT_BUDGET);
  assert.equal(segmentFileBudget(3000, 4096).capacity, 3000);
  assert.equal(segmentFileBudget(4096 - RESERVED_FDS, 4096).capacity, 4096 - RESERVED_FDS);
  assert.equal(segmentFileBudget(0, 4096).warning, undefined);
  assert.match(segmentFileBudget(0, 512).warning ?? '', /file limit is 512.*raise the limit/);
});

test('an explicit setting that leaves fewer than the reserved descriptors free is refused, naming the setting, both numbers and the fix', () => {
  assert.throws(() => segmentFileBudget(4096 - RESERVED_FDS + 1, 4096), (err: Error) => {
    assert.match(err.message, /maxOpenSegmentFiles 3841 does not fit under the process's file limit 4096/);
    assert.match(err.message, /at most 3840/);
    assert.match(err.message, /ulimit -n/);
    return true;
  });
});

test('the broker stops start-up with INVALID_CONFIG for a budget that does not fit, warns about a low limit, and sizes the cache', () => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => lines.push(l), 'json');
  const config = loadConfig({ env: {} }).config;
  assert.throws(() => openFileBudget({ ...config, maxOpenSegmentFiles: 5000 }, log, 4096), (err: unknown) => err instanceof ConfigError && /maxOpenSegmentFiles 5000/.test(err.message));
  assert.equal(openFileBudget(config, log, 4096).capacity, 2048);
  assert.equal(openFileBudget({ ...config, maxOpenSegmentFiles: 100 }, log, 4096).capacity, 100);
  assert.equal(lines.filter((l) => l.includes('storage.file-limit.low')).length, 0);
  openFileBudget(config, log, 256);
  assert.equal(lines.filter((l) => l.includes('storage.file-limit.low')).length, 1);
});

test('the process file limit is read from /proc/self/limits (soft column), null when unreadable or unlimited', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            4096                 8192                 files     \n';
  assert.equal(processFileLimit(() => text), 4096);
  assert.equal(processFileLimit(() => text.replace('4096 ', 'unlimited ')), null);
  assert.equal(processFileLimit(() => { throw new Error('ENOENT'); }), null);
  if (process.platform === 'linux') assert.ok((processFileLimit() ?? 0) > 0, 'this process has a limit');
});
