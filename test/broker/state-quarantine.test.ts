// The broker's handler for skipped state log records: counted and logged either way, and
// reported as kept (so the store may compact it away) only once the quarantine copy is on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { quarantineSkipped } from '../../src/broker/state-quarantine.js';
import { createLogger } from '../../src/broker/logger.js';
import { createBrokerMetrics } from '../../src/metrics/index.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { QUARANTINE_FILE } from '../../src/storage/quarantine-file.js';
import { tempDir } from '../storage/helpers.js';

test('a skipped record is counted, logged at error with its offset, and kept only when its quarantine copy is written', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const lines: string[] = [];
  const log = createLogger('debug', (l) => { lines.push(l); });
  const metrics = createBrokerMetrics({ collectDefault: false });
  const rec = { generation: 2, offset: 41, timestamp: 5, key: Buffer.from('nope'), value: null, error: new Error('does not decode') };

  assert.equal(await quarantineSkipped(dir, 'share_state', '__share_state', log, metrics)(rec), true);
  const q = JSON.parse(await readFile(join(dir, QUARANTINE_FILE), 'utf8'));
  assert.deepEqual([q.topic, q.offset, q.reason], ['__share_state-2', 41, 'does not decode']);
  const ev = JSON.parse(lines[0]);
  assert.deepEqual([ev.level, ev.event, ev.topic, ev.offset, ev.quarantine], ['error', 'state log record skipped', '__share_state-2', 41, join(dir, QUARANTINE_FILE)]);

  // The copy cannot be written (no such directory): not kept, so the log keeps the record.
  assert.equal(await quarantineSkipped(join(dir, 'missing'), 'offsets', '__consumer_offsets', log, metrics)(rec), false);
  assert.equal(JSON.parse(lines[1]).level, 'error');
  assert.ok(JSON.parse(lines[1]).quarantineError, lines[1]);

  const e = parseExposition(await metrics.metricsText());
  assert.equal(valueOf(e, 'sluice_state_records_skipped_total', { log: 'share_state' }), 1);
  assert.equal(valueOf(e, 'sluice_state_records_skipped_total', { log: 'offsets' }), 1);
});
