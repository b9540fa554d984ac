import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tuneGc } from '../../src/cli/gc-tuning.js';

test('the CLI scavenges on one thread on machines with at most 2 cores, unless SLUICE_GC_TUNING=0', () => {
  assert.equal(tuneGc({}, 2), '--no-parallel-scavenge');
  assert.equal(tuneGc({}, 1), '--no-parallel-scavenge');
  assert.equal(tuneGc({}, 8), null);
  assert.equal(tuneGc({ SLUICE_GC_TUNING: '0' }, 2), null);
  assert.equal(tuneGc({ SLUICE_GC_TUNING: 'false' }, 2), null);
  assert.equal(tuneGc({ SLUICE_GC_TUNING: '1' }, 2), '--no-parallel-scavenge');
});
