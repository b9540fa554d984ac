/**
 * In-place compaction of the offset store (cluster mode's coordinator partitions,
 * docs/cluster.md "Coordinators"): on a dir that keeps one generation for life, the snapshot
 * goes into the same log and the log start moves to its first record; a rebuild replays from
 * the log start and gets exactly the live state (deleted keys stay deleted), with the log and
 * replay bounded by live state. Run on memory logs and on a real DiskPartitionLog (whose
 * advanceLogStartOffset deletes the segments before the start).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { SEGMENT_FILE } from '../../src/storage/segment.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { decodeOffsetRecord } from '../../src/group/offset-records.js';
import { recordsOf } from '../../src/state-log/replay.js';
import type { GenerationDir, GenerationLog } from '../../src/state-log/generation-log.js';
import { ManualClock } from './sim.js';
import { tempDir } from '../storage/helpers.js';

interface InPlace { dir: GenerationDir; log(): Promise<GenerationLog>; restart(): Promise<void>; segments(): Promise<number>; close(): Promise<void> }

const engines: [string, () => Promise<InPlace>][] = [
  ['memory', async () => {
    const d = new MemoryGenerationDir({ inPlace: true });
    return { dir: d, log: () => d.open(0), restart: async () => undefined, segments: async () => 1, close: async () => undefined };
  }],
  ['a disk partition log', async () => {
    const { dir: path, cleanup } = await tempDir();
    const cfg = effectiveConfig({ segmentBytes: 4096, retentionMs: -1 });
    let log = await DiskPartitionLog.open(path, '__consumer_offsets', 0, cfg);
    const dir: GenerationDir = {
      generations: async () => [0],
      open: async () => log,
      remove: async () => { throw new Error('one generation for life'); },
      advanceLogStart: async (_g, offset) => { await log.advanceLogStartOffset(offset); },
    };
    return {
      dir, log: async () => log,
      restart: async () => { await log.close(); log = await DiskPartitionLog.open(path, '__consumer_offsets', 0, cfg); },
      segments: async () => (await readdir(path)).filter((f) => SEGMENT_FILE.test(f)).length,
      close: async () => { await log.close(); await cleanup(); },
    };
  }],
];

for (const [name, make] of engines) {
  describe(`offset store compacting in place on ${name}`, () => {
    const open: InPlace[] = [];
    after(async () => { for (const e of open) await e.close(); });

    test('the snapshot starts the log, older records are gone, and a rebuild has exactly the live offsets', async () => {
      const e = await make();
      open.push(e);
      const clock = new ManualClock();
      const opts = { clock, compactMinRecords: 50, compactRatio: 4, snapshotBatchRecords: 7 };
      let store = await OffsetStore.open(e.dir, opts);
      // A group and a partition deleted before any snapshot: a replay from before it would bring them back.
      await store.commit('gone', [{ topic: 't', partition: 0, offset: 3 }]);
      await store.commit('g0', [{ topic: 'old', partition: 0, offset: 1 }]);
      await store.deleteGroup('gone');
      await store.deleteOffsets('g0', [{ topic: 'old', partition: 0 }]);
      for (let i = 0; i < 600; i++) {
        clock.t++;
        await store.commit(`g${i % 3}`, [{ topic: 't', partition: i % 5, offset: i }, { topic: 'u', partition: 0, offset: i }]);
      }
      await store.idle();
      assert.ok(store.compactions >= 2, `compactions ${store.compactions}`);
      const s = store.stats();
      assert.equal(s.liveKeys, 3 * 5 + 3);
      assert.ok(s.records <= Math.max(50, 4 * s.liveKeys) + 2, `records ${s.records}, live ${s.liveKeys}`);
      const log = await e.log();
      assert.ok(log.logStartOffset > 0, 'the log start moved');
      assert.equal(log.logEndOffset - log.logStartOffset, s.records, 'the log holds what the store counts, from its start');
      // What is left starts with the snapshot: its records up to the marker are the live keys.
      const kinds: string[] = [];
      for await (const batch of recordsOf(log)) for (const r of batch) kinds.push(decodeOffsetRecord(r.key, r.value).kind);
      assert.equal(kinds.indexOf('snapshot'), s.liveKeys, `the first ${s.liveKeys} records are the snapshot, then its marker`);
      assert.ok(await e.segments() <= 3, `segments left: ${await e.segments()}`);
      const live = store.groups().map((g) => store.fetch(g));
      await store.close();
      await e.restart();
      store = await OffsetStore.open(e.dir, opts);
      assert.deepEqual(store.groups(), ['g0', 'g1', 'g2'], 'deleted groups stay deleted');
      assert.deepEqual(store.groups().map((g) => store.fetch(g)), live);
      assert.equal(store.stats().records, s.records, 'replay read only from the log start');
      await store.close();
    });
  });
}
