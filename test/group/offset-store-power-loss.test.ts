/**
 * Committed offsets against a simulated power loss (test/storage/crash-disk.ts: every write
 * not fsynced is gone, and strict directory semantics). The offset store answers a commit
 * once its batch is durable; every commit answered before the crash must be what the store
 * returns after it reopens on the durable state (or a later commit of the same partition
 * that reached the disk). Compaction runs often, so crashes land in snapshots and in the
 * switch between generations too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openLogManager } from '../../src/storage/log-manager.js';
import type { LogManager } from '../../src/storage/types.js';
import { logManagerGenerationDir } from '../../src/state-log/generation-log.js';
import { OFFSETS_PREFIX, OffsetStore } from '../../src/group/offset-store.js';
import { CrashDisk, crashRunParams } from '../storage/crash-disk.js';
import { ManualClock } from './sim.js';

const DATA = '/data';

interface Commit { group: number; partition: number; wait: boolean }

async function openStore(disk: CrashDisk, clock: ManualClock): Promise<{ mgr: LogManager; store: OffsetStore }> {
  const mgr = await openLogManager(DATA, {}, { retentionCheckMs: 0, fs: disk.mount() });
  const store = await OffsetStore.open(logManagerGenerationDir(mgr, OFFSETS_PREFIX), { clock, compactMinRecords: 6, compactRatio: 1.5 });
  return { mgr, store };
}

const key = (c: Commit) => `g${c.group}/t/${c.partition}`;

test('every commit answered before a power loss is the committed offset after it', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ group: fc.integer({ min: 0, max: 2 }), partition: fc.integer({ min: 0, max: 3 }), wait: fc.boolean() }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 600 }),
      async (commits, crashAt) => {
        const disk = new CrashDisk();
        disk.prepareDir(DATA);
        const clock = new ManualClock();
        /** Per partition: every offset committed (answered or not), and the last one answered before the crash. */
        const issued = new Map<string, Set<number>>();
        const answered = new Map<string, number>();
        disk.crashAfterOps(crashAt);
        const pending: Promise<unknown>[] = [];
        try {
          const { store } = await openStore(disk, clock);
          let offset = 0;
          for (const c of commits) {
            if (disk.crashes > 0) break;
            const o = ++offset; // offsets only grow, so a later answer always wins
            const k = key(c);
            if (!issued.has(k)) issued.set(k, new Set());
            issued.get(k)!.add(o);
            clock.t += 1;
            const p = store.commit(`g${c.group}`, [{ topic: 't', partition: c.partition, offset: o }]).then(() => {
              if (disk.crashes === 0) answered.set(k, Math.max(answered.get(k) ?? -1, o));
            });
            pending.push(p);
            p.catch(() => {}); // a crash rejects it while another call is awaited; settled below
            if (c.wait) await p;
          }
        } catch {
          // the crash
        }
        await Promise.allSettled(pending);
        if (disk.crashes === 0) disk.crash();

        const { mgr, store } = await openStore(disk, clock);
        try {
          for (const [k, offsets] of issued) {
            const [g, , p] = k.split('/');
            const got = store.fetch(g, [{ topic: 't', partition: Number(p) }])[0].offset;
            const last = answered.get(k);
            if (last !== undefined) assert.ok(got >= last, `${k}: committed ${last} was answered, store has ${got}`);
            assert.ok(got === -1 || offsets.has(got), `${k}: store has ${got}, never committed`);
          }
        } finally {
          await store.close();
          await mgr.close();
        }
      },
    ),
    // Found by this test: a new generation's first segment vanished (no directory fsync).
    { ...crashRunParams(100), examples: [[[{ group: 0, partition: 0, wait: false }], 19]] },
  );
});
