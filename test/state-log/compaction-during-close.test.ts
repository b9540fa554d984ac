// close() of a state log (the committed-offsets store, the share state) while a compaction
// is under way. The broker closes the log manager right after: a compaction still running
// then would make or drop topics of a closed manager, or leave half a generation behind.
// close() must return with the compaction finished or abandoned, its directory untouched from
// then on and holding one generation, and a reopen must replay the whole state.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { OffsetStore } from '../../src/group/offset-store.js';
import { ShareCoordinator } from '../../src/queue/share-coordinator.js';
import { SHARE_STATE_PREFIX, ShareStateLog } from '../../src/queue/share-state-log.js';
import type { GenerationDir } from '../../src/state-log/generation-log.js';
import { ManualClock } from '../queue/helpers.js';
import { logDirEngines, type Engine } from './log-dir-engines.js';
import { HeldDir, gate } from './held-dir.js';

/** Event-loop turns until `p` settles, up to `max`. */
async function turnsUntil(p: Promise<unknown>, max: number): Promise<void> {
  let settled = false;
  void p.then(() => { settled = true; }, () => { settled = true; });
  for (let turns = 0; !settled && turns < max; turns++) await new Promise<void>((r) => setImmediate(r));
}

/** The two stores on the CompactedLog base, each with the write that makes its 4th record and what a reopen must show. */
interface Store {
  writeN(i: number): Promise<void>;
  close(): Promise<void>;
  idle(): Promise<void>;
  readonly generation: number;
  readonly compactions: number;
  compact(): Promise<void>;
}

const KINDS: { name: string; prefix: string; open(dir: GenerationDir, errors: unknown[]): Promise<Store>; state(dir: GenerationDir): Promise<unknown> }[] = [
  {
    name: 'offset store',
    prefix: '__consumer_offsets',
    async open(dir, errors) {
      const s = await OffsetStore.open(dir, { clock: new ManualClock(), compactMinRecords: 4, compactRatio: 1, onCompactionError: (e) => errors.push(e) });
      return Object.assign(s, { writeN: (i: number) => s.commit('g', [{ topic: 't', partition: 0, offset: i }]) });
    },
    async state(dir) {
      const s = await OffsetStore.open(dir, { clock: new ManualClock() });
      const out = s.fetch('g').map((o) => o.offset);
      await s.close();
      return out;
    },
  },
  {
    name: 'share state log',
    prefix: SHARE_STATE_PREFIX,
    async open(dir, errors) {
      const clock = new ManualClock();
      const c = new ShareCoordinator({ clock });
      const s = await ShareStateLog.open(dir, c, { clock, compactMinRecords: 4, compactRatio: 1, onCompactionError: (e) => errors.push(e) });
      return Object.assign(s, {
        writeN: (i: number) => {
          c.configure('g', { maxDeliveries: i + 1 }); // i + 1: at least 1
          return s.persist(true);
        },
      });
    },
    async state(dir) {
      const clock = new ManualClock();
      const c = new ShareCoordinator({ clock });
      const s = await ShareStateLog.open(dir, c, { clock });
      const out = c.groups().map((g) => c.group(g)!.config.maxDeliveries - 1);
      await s.close();
      return out;
    },
  },
];

for (const kind of KINDS) {
  for (const [engineName, make] of logDirEngines(kind.prefix)) {
    describe(`${kind.name} on ${engineName}`, () => {
      const engines: Engine[] = [];
      after(async () => {
        for (const e of engines) await e.close();
      });

      test('a compaction that a write queued before close() triggers is done or undone when close() returns', async () => {
        const engine = await make();
        engines.push(engine);
        const dir = new HeldDir(engine.dir());
        const errors: unknown[] = [];
        const s = await kind.open(dir, errors);
        for (let i = 0; i < 3; i++) await s.writeN(i);
        assert.equal(s.compactions, 0, 'no compaction before the 4th record');

        const release = gate();
        void dir.holdNextCreate(release.wait);
        // The 4th record makes the log due for a compaction, which the write starts from the
        // write queue after close() began (close is called in the same tick, the write queued).
        const last = s.writeN(3);
        const closing = s.close();
        // The creation of generation 1, if the compaction got that far, is held until the
        // write is answered (fsync included) and close() had a few turns to return after it:
        // a close() that does not wait for the compaction returns here, one that does waits
        // for the release.
        await last;
        await turnsUntil(closing, 5);
        let opsAtClose: string[] = [];
        const closed = closing.then(() => { opsAtClose = [...dir.ops]; });
        release.open();
        await closed;

        // Whatever was still running of the compaction ends here (idle() waits for it).
        await s.idle();
        assert.deepEqual(dir.ops, opsAtClose, 'the state log changed its directory after close() returned');
        const gens = await engine.dir().generations();
        assert.equal(gens.length, 1, `close() left generations ${gens.sort().join(', ')} (one of them half made)`);
        assert.deepEqual(errors, [], 'no compaction failed');

        await engine.restart();
        assert.deepEqual(await kind.state(engine.dir()), [3], 'a reopen replays the last write');
        assert.equal((await engine.dir().generations()).length, 1);
      });

      test('a compaction still making its generation when close() is called is undone before close() returns', async () => {
        const engine = await make();
        engines.push(engine);
        const dir = new HeldDir(engine.dir());
        const errors: unknown[] = [];
        const s = await kind.open(dir, errors);
        for (let i = 0; i < 3; i++) await s.writeN(i);

        const release = gate();
        const creating = dir.holdNextCreate(release.wait);
        const compaction = s.compact();
        await creating; // generation 1 is being made (held)
        const closing = s.close();
        await turnsUntil(closing, 5);
        let opsAtClose: string[] = [];
        const closed = closing.then(() => { opsAtClose = [...dir.ops]; });
        release.open();
        await closed;
        await compaction;

        await s.idle();
        assert.deepEqual(dir.ops, opsAtClose, 'the state log changed its directory after close() returned');
        const gens = await engine.dir().generations();
        assert.equal(gens.length, 1, `close() left generations ${gens.sort().join(', ')} (one of them half made)`);
        assert.deepEqual(errors, [], 'no compaction failed');
        await assert.rejects(s.writeN(9), { code: 'COORDINATOR_NOT_AVAILABLE' }, 'a write after close() is refused');

        await engine.restart();
        assert.deepEqual(await kind.state(engine.dir()), [2], 'a reopen replays the last write');
      });
    });
  }
}
