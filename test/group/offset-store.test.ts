import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/record/index.js';
import { StorageError } from '../../src/storage/errors.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { OffsetStore, type OffsetStoreOptions } from '../../src/group/offset-store.js';
import type { BadStateRecord } from '../../src/state-log/compacted-log.js';
import { ManualClock } from './sim.js';
import { logDirEngines, type Engine } from '../state-log/log-dir-engines.js';

const ENGINES = logDirEngines('__consumer_offsets');

for (const [name, makeEngine] of ENGINES) {
  describe(`offset store on ${name}`, () => {
    const engines: Engine[] = [];
    const setup = async (opts: Partial<OffsetStoreOptions> = {}) => {
      const engine = await makeEngine();
      engines.push(engine);
      const clock = new ManualClock();
      const open = () => OffsetStore.open(engine.dir(), { clock, ...opts });
      return { engine, clock, open };
    };
    after(async () => {
      for (const e of engines) await e.close();
    });

    test('offsets, deletions and empty-since times survive a rebuild from the log', async () => {
      const { engine, clock, open } = await setup();
      let store = await open();
      await store.commit('g1', [{ topic: 't', partition: 0, offset: 5, metadata: 'm0' }, { topic: 't', partition: 1, offset: 7 }]);
      clock.t += 10;
      await store.commit('g1', [{ topic: 't', partition: 0, offset: 9 }, { topic: 'u', partition: 3, offset: 2 ** 40 }]);
      await store.commit('g2', [{ topic: 't', partition: 0, offset: 1 }]);
      await store.commit('g3', [{ topic: 't', partition: 0, offset: 1 }]);
      await store.deleteOffsets('g1', [{ topic: 't', partition: 1 }]);
      await store.deleteGroup('g2');
      await store.setEmptySince('g1', 12_345);
      const before = store.fetch('g1');
      assert.deepEqual(before.map((o) => [o.topic, o.partition, o.offset, o.metadata]), [['t', 0, 9, ''], ['u', 3, 2 ** 40, '']]);
      await store.close();
      await engine.restart();
      clock.t += 1000;
      store = await open();
      assert.deepEqual(store.fetch('g1'), before);
      assert.deepEqual(store.groups(), ['g1', 'g3']);
      assert.deepEqual(store.fetch('g2', [{ topic: 't', partition: 0 }]).map((o) => o.offset), [-1]);
      assert.equal(store.emptySince('g1'), 12_345);
      await store.close();
    });

    test('compaction bounds the log and loses nothing, across restarts', async () => {
      const { engine, open } = await setup({ compactMinRecords: 50, compactRatio: 4, snapshotBatchRecords: 7 });
      let store = await open();
      for (let i = 0; i < 300; i++) {
        await store.commit(`g${i % 3}`, [{ topic: 't', partition: i % 5, offset: i }, { topic: 'u', partition: 0, offset: i }]);
      }
      // A compaction makes its new generation beside the writes (compacted-log.ts compact()),
      // so commits made meanwhile still go to the old one: the bound holds once it is done.
      await store.idle();
      const s = store.stats();
      assert.ok(store.compactions >= 2, `compactions ${store.compactions}`);
      assert.ok(s.records <= Math.max(50, 4 * s.liveKeys) + 2, `records ${s.records}, live ${s.liveKeys}`);
      assert.equal(s.liveKeys, 3 * 5 + 3);
      const snapshot = store.groups().map((g) => store.fetch(g));
      await store.close();
      await engine.restart();
      store = await open();
      assert.deepEqual(store.groups().map((g) => store.fetch(g)), snapshot);
      assert.deepEqual(await engine.dir().generations(), [store.generation]);
      await store.close();
    });

    test('a snapshot interrupted before its end marker is ignored; a finished one wins over the old generation', async () => {
      const { engine, open } = await setup();
      let store = await open();
      await store.commit('g', [{ topic: 't', partition: 0, offset: 1 }]);
      const gen = store.generation;
      await store.close();
      // Crash while writing generation gen+1: some entries, no marker.
      const half = await engine.dir().open(gen + 1);
      await half.append(encodeBatch([{ key: JSON.stringify(['o', 'g', 't', 0]), value: null }]), { durable: true });
      await engine.restart();
      store = await open();
      assert.equal(store.generation, gen);
      assert.equal(store.fetch('g')[0].offset, 1);
      assert.deepEqual(await engine.dir().generations(), [gen]);
      // Crash after the snapshot finished but before the old generation was removed.
      await store.commit('g', [{ topic: 't', partition: 0, offset: 2 }]);
      await store.compact();
      const newGen = store.generation;
      assert.equal(newGen, gen + 1);
      await store.close();
      const stale = await engine.dir().open(gen);
      await stale.append(encodeBatch([{ key: JSON.stringify(['o', 'g', 't', 0]), value: null }]), { durable: true });
      await engine.restart();
      store = await open();
      assert.equal(store.generation, newGen);
      assert.equal(store.fetch('g')[0].offset, 2);
      assert.deepEqual(await engine.dir().generations(), [newGen]);
      await store.close();
    });
  });
}

test('a failed append rejects the commit and changes nothing; the next commit works', async () => {
  const dir = new MemoryGenerationDir();
  const clock = new ManualClock();
  const store = await OffsetStore.open(dir, { clock });
  await store.commit('g', [{ topic: 't', partition: 0, offset: 1 }]);
  (await dir.open(store.generation)).failNextAppend = new StorageError('disk full');
  await assert.rejects(store.commit('g', [{ topic: 't', partition: 0, offset: 2 }]), { code: 'STORAGE_ERROR' });
  assert.equal(store.fetch('g')[0].offset, 1);
  await store.commit('g', [{ topic: 't', partition: 0, offset: 3 }]);
  const again = await OffsetStore.open(dir, { clock });
  assert.equal(again.fetch('g')[0].offset, 3);
});

test('bad commit values are typed errors and store nothing', async () => {
  const store = await OffsetStore.open(new MemoryGenerationDir(), { clock: new ManualClock(), maxMetadataBytes: 8 });
  await assert.rejects(store.commit('g', [{ topic: 't', partition: 0, offset: 1, metadata: '123456789' }]), { code: 'OFFSET_METADATA_TOO_LARGE' });
  await assert.rejects(store.commit('g', [{ topic: 't', partition: 0, offset: 1 }, { topic: '', partition: 0, offset: 1 }]), { code: 'INVALID_REQUEST' });
  assert.deepEqual(store.groups(), []);
});

test('replay skips record kinds it does not know, and skips and reports records that do not decode', async () => {
  const dir = new MemoryGenerationDir();
  const clock = new ManualClock();
  const store = await OffsetStore.open(dir, { clock });
  await store.commit('g', [{ topic: 't', partition: 0, offset: 4 }]);
  const log = await dir.open(store.generation);
  await log.append(encodeBatch([{ key: JSON.stringify(['future-kind', 'g']), value: 'whatever' }]));
  assert.equal((await OffsetStore.open(dir, { clock })).fetch('g')[0].offset, 4);
  const badAt = log.logEndOffset;
  await log.append(encodeBatch([{ key: '{not json', value: null }, { key: JSON.stringify(['o', 'g', 't', 1]), value: 'not msgpack \xc1' }]));
  await store.commit('h', [{ topic: 't', partition: 0, offset: 9 }]); // after the bad records: still applied

  // Not kept elsewhere (no handler, or it says false): skipped, and left in the log.
  const seen: BadStateRecord[] = [];
  let reopened = await OffsetStore.open(dir, { clock, onBadRecord: (r) => { seen.push(r); return false; } });
  assert.deepEqual(reopened.fetch('g').map((o) => [o.partition, o.offset]), [[0, 4]]);
  assert.equal(reopened.fetch('h')[0].offset, 9);
  assert.deepEqual(seen.map((r) => [r.generation, r.offset, r.key?.toString()]), [[0, badAt, '{not json'], [0, badAt + 1, '["o","g","t",1]']]);
  assert.ok(seen.every((r) => (r.error as { code?: string }).code === 'CORRUPT_MESSAGE'), String(seen[0].error));
  assert.equal(reopened.badRecords, 2);
  assert.equal((await OffsetStore.open(dir, { clock })).fetch('h')[0].offset, 9, 'without a handler it opens too');

  // Kept elsewhere: the log is rewritten without them, so the next open meets none.
  reopened = await OffsetStore.open(dir, { clock, onBadRecord: async () => true });
  await reopened.idle();
  assert.equal(reopened.generation, 1, 'compacted into a new generation');
  seen.length = 0;
  reopened = await OffsetStore.open(dir, { clock, onBadRecord: (r) => { seen.push(r); return true; } });
  assert.deepEqual(seen, []);
  assert.equal(reopened.fetch('g')[0].offset, 4);
  assert.equal(reopened.fetch('h')[0].offset, 9);
});
