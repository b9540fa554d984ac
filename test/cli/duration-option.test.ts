import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationOption, timeOption } from '../../src/cli/duration-option.js';

test('--delay takes a number with units; a bare number is ms; anything else names the flag', () => {
  const d = durationOption('--delay');
  assert.equal(d('10m'), 600_000);
  assert.equal(d('1h30m'), 5_400_000);
  assert.equal(d('500ms'), 500);
  assert.equal(d('1.5s'), 1500);
  assert.equal(d('250'), 250);
  for (const bad of ['', 'soon', '10x', '5m later', '-3s']) assert.throws(() => d(bad), /--delay must be a duration/);
});

test('--at takes an ISO 8601 time', () => {
  assert.equal(timeOption('--at')('2026-12-24T18:00:00Z'), Date.UTC(2026, 11, 24, 18));
  assert.throws(() => timeOption('--at')('tomorrow'), /--at must be an ISO 8601 time/);
  assert.throws(() => timeOption('--at')('12'), /--at must be an ISO 8601 time/);
});
