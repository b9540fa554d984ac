/**
 * The Produce handler with acks=all on a simulated power loss (test/storage/crash-disk.ts):
 * every write not fsynced is gone. A record whose acks=all answer went out before the crash
 * must be readable after storage reopens on what is left; with acks=1 nothing is promised.
 * This ties the wire's acks to storage's durable appends (handle-produce.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openLogManager } from '../../src/storage/log-manager.js';
import type { LogManager } from '../../src/storage/types.js';
import { handleProduce } from '../../src/broker/handle-produce.js';
import { CrashDisk, crashRunParams } from '../storage/crash-disk.js';
import { batchOf, recordsIn } from '../storage/helpers.js';
import { contextOn } from './test-context.js';

const DATA = '/data';

function openOn(disk: CrashDisk): Promise<LogManager> {
  // No interval flush: only what acks=all makes durable is on disk.
  return openLogManager(DATA, { flushMs: -1, segmentBytes: 2000 }, { retentionCheckMs: 0, fs: disk.mount() });
}

test('every record answered for acks=all before a power loss is there after it', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ records: fc.integer({ min: 1, max: 20 }), acks: fc.constantFrom(1 as const, -1 as const), wait: fc.boolean() }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1, max: 300 }),
      async (produces, crashAt) => {
        const disk = new CrashDisk();
        disk.prepareDir(DATA);
        const setup = await openOn(disk);
        await setup.createTopic('t', 1);
        disk.crashAfterOps(crashAt);
        const ctx = contextOn(setup);
        const answered: { base: number; n: number }[] = [];
        const pending: Promise<unknown>[] = [];
        let seq = 0;
        for (const p of produces) {
          if (disk.crashes > 0) break;
          const req = { id: 1, api: 0 as const, version: 0, acks: p.acks, partitions: [{ topic: 't', partition: 0, records: batchOf(p.records, seq) }] };
          seq += p.records;
          const done = handleProduce(ctx, req).then((res) => {
            const r = res!.partitions[0];
            if (p.acks === -1 && disk.crashes === 0 && r.error === undefined) answered.push({ base: r.baseOffset!, n: p.records });
          });
          pending.push(done);
          done.catch(() => {}); // a crash rejects it while another call is awaited; settled below
          if (p.wait) await done;
        }
        await Promise.allSettled(pending);
        if (disk.crashes === 0) disk.crash();

        const logs = await openOn(disk);
        try {
          const log = logs.log('t', 0)!;
          const stored = new Map<number, string>();
          for (let at = log.logStartOffset; at < log.logEndOffset;) {
            const recs = recordsIn((await log.read(at, 1 << 20)).bytes).filter((r) => r.offset >= at);
            assert.ok(recs.length > 0, `no record at ${at} below the log end ${log.logEndOffset}`);
            for (const r of recs) stored.set(r.offset, r.value);
            at = recs[recs.length - 1].offset + 1;
          }
          for (const { base, n } of answered) {
            for (let o = base; o < base + n; o++) assert.equal(stored.get(o), `v${o}`, `offset ${o} was answered for acks=all`);
          }
        } finally {
          await logs.close();
        }
      },
    ),
    crashRunParams(100),
  );
});
