import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/broker/logger.js';

test('json format: one parseable line per event with level, event and fields; below level is dropped', () => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => lines.push(l), 'json');
  log.debug('hidden', {});
  log.info('storage.recovery.truncated', { topic: 't', partition: 0, droppedBytes: 17 });
  log.error('unexpected error', { error: Object.assign(new Error('boom'), { code: 'X' }) });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1));
  const a = JSON.parse(lines[0]);
  assert.equal(a.level, 'info');
  assert.equal(a.event, 'storage.recovery.truncated');
  assert.equal(a.droppedBytes, 17);
  assert.deepEqual(JSON.parse(lines[1]).error, { name: 'Error', message: 'boom', code: 'X' });
});

test('pretty format: time, level, event, key=value; stack on indented lines', () => {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l), 'pretty');
  log.warn('topic created', { topic: 'orders', partitions: 3, config: { retentionMs: 5 }, note: 'two words' });
  log.error('unexpected error', { error: new Error('boom'), stack: 'Error: boom\n    at x' });
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} WARN  topic created topic=orders partitions=3 config=\{"retentionMs":5\} note="two words"\n$/);
  assert.match(lines[1], /^\d\d:\d\d:\d\d\.\d{3} ERROR unexpected error error=\{"name":"Error","message":"boom"\}\n    Error: boom\n        at x\n$/);
});
