// Several asks for a compaction of one state log (the writes that each find the log due, the
// rewrites of failed writes, an explicit compact()) before a compaction starts: they are met
// by one compaction, not one each. Each compaction writes a whole snapshot of live state (in
// place: into the same log, durably; beside: into a new generation, a topic on disk), so a
// burst of writes queued together at the threshold once wrote one snapshot per write.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { OffsetStore } from '../../src/group/offset-store.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { ManualClock } from '../queue/helpers.js';
import { HeldDir, gate } from './held-dir.js';

/** One live key (group g, t-0), so every commit after the 4th makes the log due (4 records, ratio 1). */
const commit = (s: OffsetStore, offset: number): Promise<void> => s.commit('g', [{ topic: 't', partition: 0, offset }]);
const DUE = { compactMinRecords: 4, compactRatio: 1 };

for (const [name, inPlace] of [['in place (one generation for life)', true], ['into a new generation', false]] as const) {
  describe(`compaction asks, ${name}`, () => {
    test('writes queued together that each find the log due start one compaction, not one each', async () => {
      const errors: unknown[] = [];
      const s = await OffsetStore.open(new MemoryGenerationDir({ inPlace }), { clock: new ManualClock(), ...DUE, onCompactionError: (e) => errors.push(e) });
      for (let i = 0; i < 3; i++) await commit(s, i);
      // Queued in one tick: each runs (and finds the log due) before the compaction the
      // first of them asks for can start behind them.
      await Promise.all([3, 4, 5, 6, 7].map((i) => commit(s, i)));
      await s.idle();
      assert.deepEqual(errors, []);
      assert.equal(s.compactions, 1, 'one snapshot covers every write queued before it');
      assert.equal(s.generation, inPlace ? 0 : 1);
      assert.equal(s.stats().records, 2, 'the log holds the snapshot of the one live key and its marker');
      assert.equal(s.fetch('g')[0].offset, 7);
    });

    test('two compact() calls in one tick (the rewrites of two failed writes) make one compaction, and both are answered', async () => {
      const s = await OffsetStore.open(new MemoryGenerationDir({ inPlace }), { clock: new ManualClock() });
      for (let i = 0; i < 3; i++) await commit(s, i);
      await Promise.all([s.compact(), s.compact()]);
      assert.equal(s.compactions, 1);
      assert.equal(s.generation, inPlace ? 0 : 1);
      await s.idle();
      assert.equal(s.compactions, 1, 'no second compaction after the first');
    });
  });
}

test('a compact() asked while a compaction is making its generation is not dropped: a second one follows, with the write made meanwhile', async () => {
  const mem = new MemoryGenerationDir();
  const dir = new HeldDir(mem);
  const s = await OffsetStore.open(dir, { clock: new ManualClock() });
  await commit(s, 1);
  const release = gate();
  const creating = dir.holdNextCreate(release.wait);
  const first = s.compact();
  await creating; // generation 1 is being made; the snapshot is not taken yet
  await commit(s, 2);
  const second = s.compact();
  const third = s.compact(); // joins the second: neither has started
  release.open();
  await Promise.all([first, second, third]);
  await s.idle();
  assert.equal(s.compactions, 2);
  assert.equal(s.generation, 2);
  assert.deepEqual([...mem.logs.keys()], [2], 'only the newest generation is left');
  const reopened = await OffsetStore.open(dir, { clock: new ManualClock() });
  assert.equal(reopened.fetch('g')[0].offset, 2, 'the reopen replays the write made during the first compaction');
});
