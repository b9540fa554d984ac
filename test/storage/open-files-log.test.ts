/**
 * Partition logs sharing a tiny budget of open segment files (src/storage/open-file-cache.ts)
 * under a small descriptor limit (fd-limited-fs.ts): appends, reads, truncations and
 * log-start moves on several logs at once, so every operation races evictions of the
 * handles the others hold. Every answer must match a model of the records, no operation may
 * fail for lack of descriptors, no handle may be used after it was closed, and none may leak.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { OffsetOutOfRangeError } from '../../src/storage/errors.js';
import { OpenFileCache } from '../../src/storage/open-file-cache.js';
import { FdLimitedFs } from './fd-limited-fs.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

const CFG = effectiveConfig({ segmentBytes: 700, indexIntervalBytes: 150, retentionMs: -1 });
const LOGS = 4;

/** One log's records as the model sees them: offset -> value, and where batches start. */
interface Model { start: number; end: number; values: Map<number, string>; batchStarts: Set<number> }

type Action =
  | { kind: 'append'; log: number; batches: number[] }
  | { kind: 'truncate'; log: number; at: number }
  | { kind: 'advance'; log: number; at: number }
  | { kind: 'read'; log: number; at: number };

const stepArb = fc.array(fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), log: fc.nat(LOGS - 1), batches: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), log: fc.nat(LOGS - 1), at: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), log: fc.nat(LOGS - 1), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), log: fc.nat(LOGS - 1), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
), { minLength: 1, maxLength: 8 });

/** An offset in [start, end] at fraction `x`. */
const pick = (m: Model, x: number) => m.start + Math.floor(x * (m.end - m.start + 1) * 0.999);

async function checkWhole(log: DiskPartitionLog, m: Model): Promise<void> {
  assert.equal(log.logStartOffset, m.start);
  assert.equal(log.logEndOffset, m.end);
  let at = m.start;
  while (at < m.end) {
    const got = recordsIn((await log.read(at, 1 << 16)).bytes);
    assert.ok(got.length > 0);
    for (const r of got) if (r.offset >= m.start) assert.equal(r.value, m.values.get(r.offset), `offset ${r.offset}`);
    at = got[got.length - 1].offset + 1;
  }
}

test('logs sharing two open-file slots under a limit of 12 descriptors, or a budget of 100 under a limit of 7 (EMFILE does the evicting): concurrent appends, reads, truncations and log-start moves all answer as the model says, through a clean reopen, and leak nothing', { timeout: 600_000 }, async () => {
  let seq = 0;
  let evictions = 0;
  let served = 0;
  let emfile = 0;
  const budgets = fc.constantFrom({ capacity: 2, limit: 12 }, { capacity: 100, limit: 7 });
  await fc.assert(fc.asyncProperty(budgets, fc.array(stepArb, { minLength: 3, maxLength: 12 }), async ({ capacity, limit }, steps) => {
    const { dir, cleanup } = await tempDir();
    const disk = new FdLimitedFs(limit);
    const files = new OpenFileCache(capacity);
    const opts = { fs: disk.fs, openFiles: files };
    const open = (i: number) => DiskPartitionLog.open(join(dir, `t-${i}`), 't', i, CFG, opts);
    try {
      const logs = await Promise.all(Array.from({ length: LOGS }, (_, i) => open(i)));
      const models: Model[] = logs.map(() => ({ start: 0, end: 0, values: new Map(), batchStarts: new Set([0]) }));
      for (const step of steps) {
        // What every log held when the step began: reads run concurrently with its changes.
        const before = models.map((m) => ({ start: m.start, end: m.end, values: new Map(m.values) }));
        const changed = new Set<number>();
        const jobs: Promise<void>[] = [];
        for (const a of step) {
          const log = logs[a.log];
          const m = models[a.log];
          if (a.kind === 'append') {
            if (changed.has(a.log) && m.end !== before[a.log].end) continue; // appends may join appends only
            changed.add(a.log);
            for (const n of a.batches) {
              const first = seq;
              seq += n;
              const offset = m.end;
              m.end += n;
              for (let i = 0; i < n; i++) m.values.set(offset + i, `v${first + i}`);
              m.batchStarts.add(m.end);
              jobs.push(log.append(batchOf(n, first)).then((r) => assert.equal(r.baseOffset, offset)));
            }
          } else if (a.kind === 'truncate' || a.kind === 'advance') {
            if (changed.has(a.log)) continue; // one change per log per step
            changed.add(a.log);
            const at = pick(m, a.at);
            if (a.kind === 'advance') {
              m.start = Math.max(m.start, at);
              jobs.push(log.advanceLogStartOffset(at).then(() => undefined));
            } else {
              let cut = at;
              while (!m.batchStarts.has(cut)) cut--;
              for (let o = cut; o < m.end; o++) m.values.delete(o);
              for (const s of [...m.batchStarts]) if (s > cut) m.batchStarts.delete(s);
              m.end = cut;
              jobs.push(log.truncateTo(at).then((end) => assert.equal(end, cut)));
            }
          } else {
            const b = before[a.log];
            const at = b.start + Math.floor(a.at * (b.end - b.start));
            jobs.push(log.read(at, 200 + Math.floor(a.at * 2000)).then((r) => {
              if (r.bytes.length > 0) served++;
              for (const rec of recordsIn(r.bytes)) {
                if (rec.offset < at) continue;
                assert.equal(rec.value, rec.offset < b.end ? b.values.get(rec.offset) : m.values.get(rec.offset), `log ${a.log} offset ${rec.offset} read from ${at}`);
              }
            }, (err: unknown) => {
              // A change running at the same time may have moved the range past this offset.
              if (!(err instanceof OffsetOutOfRangeError) || (at >= m.start && at <= m.end)) throw err;
            }));
          }
        }
        await Promise.all(jobs);
        assert.equal(disk.useAfterClose, 0, 'no call on a handle the cache closed');
      }
      for (const [i, log] of logs.entries()) await checkWhole(log, models[i]);
      await Promise.all(logs.map((l) => l.close()));
      await new Promise((r) => setImmediate(r));
      assert.equal(files.stats().open, 0);
      assert.equal(disk.open, 0, 'every descriptor closed');
      const again = await Promise.all(Array.from({ length: LOGS }, (_, i) => open(i)));
      for (const [i, log] of again.entries()) await checkWhole(log, models[i]);
      await Promise.all(again.map((l) => l.close()));
      await new Promise((r) => setImmediate(r));
      assert.equal(disk.open, 0);
      assert.equal(disk.useAfterClose, 0);
      assert.ok(disk.peak <= limit);
      evictions += files.stats().evictions;
      emfile += files.stats().emfileRetries;
    } finally {
      await cleanup();
    }
  }), { numRuns: Number(process.env.SLUICE_OPEN_FILES_RUNS ?? 25) });
  // The property is about races with evictions: make sure there were some, and reads that served data.
  assert.ok(evictions > 100, `evictions ${evictions}`);
  assert.ok(emfile > 5, `opens retried after EMFILE: ${emfile}`);
  assert.ok(served > 20, `reads that served records: ${served}`);
});
