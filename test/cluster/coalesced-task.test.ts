// CoalescedTask, the serialized re-read of the controller tracker and the failover
// controller's passes: kicks during a run cost exactly one more run, a run that reports it
// lost its duty drops them, and an inactive task ignores kicks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoalescedTask } from '../../src/cluster/coalesced-task.js';

function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => { open = r; });
  return { wait, open };
}

test('kicks while a run is in progress cause exactly one more run', async () => {
  let runs = 0;
  let g = gate();
  const task = new CoalescedTask(async () => { runs++; await g.wait; return true; }, () => true);
  task.kick();
  for (let i = 0; i < 5; i++) task.kick();
  assert.equal(runs, 1, 'one run at a time');
  const first = g;
  g = gate();
  first.open();
  g.open();
  await task.idle();
  assert.equal(runs, 2, 'five kicks during the first run: one more run');
});

test('a run that resolves false drops the queued kicks; an inactive task ignores kicks', async () => {
  let runs = 0;
  let active = true;
  const g = gate();
  const task = new CoalescedTask(async () => { runs++; await g.wait; return false; }, () => active);
  task.kick();
  task.kick();
  g.open();
  await task.idle();
  assert.equal(runs, 1);
  active = false;
  task.kick();
  await task.idle();
  assert.equal(runs, 1);
});
