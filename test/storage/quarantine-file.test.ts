import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QUARANTINE_FILE, appendQuarantine } from '../../src/storage/quarantine-file.js';
import { tempDir } from './helpers.js';

test('quarantined records are appended one JSON line each, bytes in base64, earlier lines kept', async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const path = await appendQuarantine(dir, { topic: '__share_state-3', partition: 0, offset: 7, timestamp: 1000, key: Buffer.from('k\n"'), value: Buffer.from([0xc1, 0]), reason: 'bad' }, 0);
  assert.equal(path, join(dir, QUARANTINE_FILE));
  await appendQuarantine(dir, { topic: '__consumer_offsets-0', partition: 0, offset: 8, timestamp: 2000, key: null, value: null, reason: 'worse' }, 1);
  const lines = (await readFile(path, 'utf8')).split('\n');
  assert.equal(lines.pop(), '', 'every line ends with a newline');
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.deepEqual({ ...a, key: Buffer.from(a.key, 'base64').toString(), value: [...Buffer.from(a.value, 'base64')] }, {
    quarantinedAt: '1970-01-01T00:00:00.000Z', topic: '__share_state-3', partition: 0, offset: 7, timestamp: 1000, reason: 'bad', key: 'k\n"', value: [0xc1, 0],
  });
  assert.deepEqual([b.topic, b.offset, b.key, b.value, b.reason], ['__consumer_offsets-0', 8, null, null, 'worse']);
});
