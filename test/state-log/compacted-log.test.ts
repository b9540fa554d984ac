// A compaction into a new generation and the writes around it: making the new generation
// and removing the old one (on disk a topic each: directories, files, metadata, fsyncs) must
// not hold up the writes of the state log, whose callers (a queue worker's pick-up, an ack)
// wait for them; and what was written stays, whichever generation it went to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShareCoordinator } from '../../src/queue/share-coordinator.js';
import { ShareStateLog } from '../../src/queue/share-state-log.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { ManualClock } from '../queue/helpers.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { HeldDir, gate } from './held-dir.js';

/** Event-loop turns until `p` settles, up to `max` (then `max`). */
async function turnsUntil(p: Promise<unknown>, max = 50): Promise<number> {
  let settled = false;
  void p.then(() => { settled = true; }, () => { settled = true; });
  let turns = 0;
  while (!settled && turns < max) {
    await new Promise<void>((r) => setImmediate(r));
    turns++;
  }
  return turns;
}

test('writes go on while a compaction makes its new generation and removes the old one, and a reopen has them all', async () => {
  const clock = new ManualClock();
  const mem = new MemoryGenerationDir();
  const dir = new HeldDir(mem);
  const c = new ShareCoordinator({ clock });
  const s = await ShareStateLog.open(dir, c, { clock });
  c.configure('before');
  await s.persist();

  const create = gate();
  const remove = gate();
  const created = dir.holdNextCreate(create.wait);
  const removing = dir.holdNextRemove(remove.wait);
  const compaction = s.compact();
  try {
    await created;
    // Generation 1 is being made (held): a durable write and an acquisition's are answered.
    c.configure('while-creating');
    assert.ok(await turnsUntil(s.persist(true)) < 50, 'a durable write waited for the new generation to be made');
    c.heartbeat('while-creating', 'w');
    assert.ok(await turnsUntil(s.persist(false)) < 50, 'a non-durable write waited for the new generation to be made');
    create.open();
    await removing;
    assert.equal(s.generation, 1, 'the snapshot was written and the log switched before the old generation goes');
    // Generation 0 is being removed (held): writes go to generation 1 meanwhile.
    c.configure('while-removing');
    assert.ok(await turnsUntil(s.persist(true)) < 50, 'a write waited for the old generation to be removed');
  } finally {
    create.open();
    remove.open();
  }
  await compaction;
  await s.idle();
  assert.deepEqual([...mem.logs.keys()], [1], 'only the new generation is left');

  const c2 = new ShareCoordinator({ clock });
  await ShareStateLog.open(dir, c2, { clock });
  assert.deepEqual(c2.groups().sort(), ['before', 'while-creating', 'while-removing'], 'every write is in the log the reopen replays');
});

test('writes made while a compaction removes the old generation start the next one: the log is bounded once they end', async () => {
  // Seen under scripts/stall-run.mjs (seed 1403, test/group/offset-store.test.ts on disk): 471
  // records for 18 live keys after idle(). The writes went on while the removal was slow, none
  // started a compaction while one was under way, and once they ended nothing did.
  const dir = new HeldDir(new MemoryGenerationDir());
  const store = await OffsetStore.open(dir, { clock: new ManualClock(), compactMinRecords: 50, compactRatio: 4 });
  const remove = gate();
  let removing = false;
  void dir.holdNextRemove(remove.wait).then(() => { removing = true; });
  let i = 0;
  // 3 groups x 5 partitions of t, and u/0 in each: 18 live keys, 2 records a commit.
  const commit = () => store.commit(`g${i % 3}`, [{ topic: 't', partition: i % 5, offset: i }, { topic: 'u', partition: 0, offset: i++ }]);
  try {
    while (!removing) {
      assert.ok(i < 1000, 'no compaction started');
      await commit();
    }
    // The first compaction switched to generation 1 and is removing generation 0 (held): 400
    // more records go to generation 1, 20 times what is live.
    for (let k = 0; k < 200; k++) await commit();
  } finally {
    remove.open();
  }
  await store.idle();
  const s = store.stats();
  assert.equal(s.liveKeys, 18);
  assert.ok(s.records <= Math.max(50, 4 * s.liveKeys) + 2, `records ${s.records}, live ${s.liveKeys}, compactions ${store.compactions}`);
  await store.close();
});
