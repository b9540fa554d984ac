// The share service's commit chain on a real log manager: a durable commit whose change an
// earlier queued non-durable commit writes must still be fsynced before it resolves. In
// cluster mode (a replicated state log): a commit is never answered once a write failed or
// the service was dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLogManager } from '../../src/storage/log-manager.js';
import { createLogger } from '../../src/broker/logger.js';
import { ShareCoordinators, stopShareService } from '../../src/broker/share-coordinators.js';
import { tempDir } from '../storage/helpers.js';
import { ShareService } from '../../src/broker/share-service.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import type { GenerationDir } from '../../src/state-log/generation-log.js';
import { SluiceError } from '../../src/errors.js';
import { contextOn, testContext } from './test-context.js';
import { decodeBatches } from '../../src/record/index.js';

/** A share service on a real log manager with no background flush: every fsync comes from a durable write. */
async function startService(t: { after: (fn: () => Promise<void>) => void }) {
  const { dir, cleanup } = await tempDir();
  const counts = { fsyncs: 0 };
  const logs = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0, onFsync: () => { counts.fsyncs++; } });
  const ctx = contextOn(logs);
  const svc = (await ShareCoordinators.start(ctx)).single!;
  t.after(async () => {
    await stopShareService(ctx);
    await logs.close();
    await cleanup();
  });
  return { svc, logs, counts };
}

test('a delete answered as durable is fsynced even when an earlier queued non-durable commit writes it', async (t) => {
  const { svc, counts } = await startService(t);
  svc.coord.configure('g', { maxDeliveries: 3 });
  await svc.commit([], true);

  // An acquire-style commit (not durable) is queued first, then the delete's durable one, in
  // the same tick: the first persist drains both changes.
  svc.coord.heartbeat('other', 'w');
  const first = svc.commit([], false);
  svc.coord.deleteGroup('g');
  const before = counts.fsyncs;
  await svc.commit([], true);
  assert.ok(counts.fsyncs > before, 'the delete reached the disk with an fsync before its commit resolved');
  await first;
});

test('replicated: once a write failed, a commit whose change that write drained is refused (NOT_COORDINATOR), and so is every later one and a closed service\'s', async (t) => {
  const tc = await testContext();
  const dir = new MemoryGenerationDir();
  let reloads = 0;
  const svc = await ShareService.open(tc.ctx, dir, { replicated: { partition: 0, onWriteFailed: () => { reloads++; } } });
  t.after(async () => { await svc.close(); await tc.close(); });
  svc.coord.configure('g1');
  await svc.commit([], true);
  const log = await dir.open(0);
  const written = log.logEndOffset;

  // Two callers change state in one tick (an acquire and an ack, say); the first persist
  // drains both changes into one write, and that write fails (this broker stopped leading).
  log.failNextAppend = new SluiceError('NOT_COORDINATOR', 'writing coordinator state: broker 1 stopped leading');
  svc.coord.configure('g2');
  const first = svc.commit([], false);
  svc.coord.configure('g3');
  const second = svc.commit([], true);
  await assert.rejects(first, (err: SluiceError) => err.code === 'NOT_COORDINATOR');
  // The second caller's change was in the failed write: answering it would acknowledge what no replica holds.
  await assert.rejects(second, (err: SluiceError) => err.code === 'NOT_COORDINATOR', 'a commit whose change a failed write drained is not answered');
  assert.equal(reloads, 1);
  svc.coord.configure('g4');
  await assert.rejects(svc.commit([], true), (err: SluiceError) => err.code === 'NOT_COORDINATOR', 'nothing after a failed write');
  assert.equal(log.logEndOffset, written, 'nothing written after the failed write');
});

test('replicated: a closed (dropped) service persists nothing more and answers NOT_COORDINATOR', async (t) => {
  const tc = await testContext();
  const dir = new MemoryGenerationDir();
  const svc = await ShareService.open(tc.ctx, dir, { replicated: { partition: 0, onWriteFailed: () => {} } });
  t.after(() => tc.close());
  svc.coord.configure('g1');
  await svc.commit([], true);
  const log = await dir.open(0);
  const written = log.logEndOffset;
  // A handler that found the service before it was dropped changes its memory and commits after.
  const closed = svc.close();
  svc.coord.configure('g2');
  await assert.rejects(svc.commit([], true), (err: SluiceError) => err.code === 'NOT_COORDINATOR');
  await closed;
  assert.equal(log.logEndOffset, written, 'the dropped service wrote nothing');
});

test('single node: a commit after close() is refused (COORDINATOR_NOT_AVAILABLE) without a write, an error log or a rewrite of the state', async (t) => {
  const lines: string[] = [];
  const tc = await testContext({ log: createLogger('warn', (l) => { lines.push(l); }) });
  const dir = new MemoryGenerationDir();
  const svc = await ShareService.open(tc.ctx, dir, {});
  t.after(() => tc.close());
  svc.coord.configure('g1');
  await svc.commit([], true);
  await svc.close();
  const log = await dir.open(0);
  const written = log.logEndOffset;
  // A request still in flight at shutdown changes memory and commits after the close.
  svc.coord.configure('g2');
  await assert.rejects(svc.commit([], true), (err: SluiceError) => err.code === 'COORDINATOR_NOT_AVAILABLE' && err.retriable);
  assert.equal(log.logEndOffset, written, 'nothing written after close()');
  assert.deepEqual([...dir.logs.keys()], [0], 'no rewrite into a new generation');
  assert.deepEqual(lines, [], 'a refusal at shutdown is not logged as a failed write');
});

test('commits of one I/O phase share one state-log append, though each came after the one before had started', async (t) => {
  const { svc, logs } = await startService(t);
  svc.coord.configure('g', { maxDeliveries: 3 });
  await svc.commit([], true);
  const stateLog = logs.log('__share_state-0', 0)!;
  const end0 = stateLog.logEndOffset;
  // Three requests' commits, each a few promise turns after the last (as handlers that
  // awaited something first): the first commit's run has started before the second arrives.
  const commits: Promise<void>[] = [];
  for (const g of ['g1', 'g2', 'g3']) {
    svc.coord.configure(g, { maxDeliveries: 2 });
    commits.push(svc.commit([], true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
  await Promise.all(commits);
  const batches = [...decodeBatches((await stateLog.read(end0, 1 << 20)).bytes)];
  assert.equal(batches.length, 1, `${batches.length} appends for three commits of one I/O phase`);
});

test('a pick-up queued behind several acks\' commits is written by the next run, not after one run per ack (pick-up latency)', async (t) => {
  const tc = await testContext();
  const dir = new MemoryGenerationDir();
  const svc = await ShareService.open(tc.ctx, dir, {});
  t.after(async () => { await svc.close(); await tc.close(); });
  svc.coord.configure('g');
  await svc.commit([], true);
  const log = await dir.open(0);

  // The first ack's write is held (a slow write); meanwhile five more acks commit, each in an
  // I/O phase of its own, and then an acquisition (not durable).
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let heldCalled!: () => void;
  const held = new Promise<void>((r) => { heldCalled = r; });
  const append = log.append.bind(log);
  let holdNext = true;
  log.append = async (buf, opts) => {
    if (holdNext) {
      holdNext = false;
      heldCalled();
      await gate;
    }
    return append(buf, opts);
  };
  svc.coord.configure('ack0');
  const acks = [svc.commit([], true)];
  await held;
  for (let i = 1; i <= 5; i++) {
    svc.coord.configure(`ack${i}`);
    acks.push(svc.commit([], true));
    await new Promise<void>((r) => setImmediate(r));
  }
  svc.coord.configure('acquired');
  let pickedUp = false;
  const acquire = svc.commit([], false).then(() => { pickedUp = true; });

  // Event-loop turns from the held write's end to the acquisition's answer: on a loaded
  // broker each turn serves every connection's I/O, so turns are what a pick-up waits for.
  release();
  let turns = 0;
  while (!pickedUp && turns < 100) {
    await new Promise<void>((r) => setImmediate(r));
    turns++;
  }
  await acquire;
  await Promise.all(acks);
  assert.ok(turns <= 2, `the acquisition was answered ${turns} event-loop turns after the held write ended (one run per queued ack)`);
  const stored = (await log.read(0, 1 << 20)).bytes;
  for (const g of ['ack0', 'ack5', 'acquired']) assert.ok(stored.includes(g), `${g}'s change is in the state log`);
});

test('an acquisition committed beside an ack is answered once its change is written, not after the ack\'s fsync', async (t) => {
  const tc = await testContext();
  // A state log on a disk whose fsync can be held: a flush waits for `gate` while armed.
  const mem = new MemoryGenerationDir();
  let gate: Promise<void> | undefined;
  let flushCalled!: () => void;
  const flushing = new Promise<void>((r) => { flushCalled = r; });
  const dir: GenerationDir = {
    generations: () => mem.generations(),
    remove: (g) => mem.remove(g),
    async open(g) {
      const log = await mem.open(g);
      return Object.assign(log, { flush: async () => { if (gate) { flushCalled(); await gate; } } });
    },
  };
  const svc = await ShareService.open(tc.ctx, dir, {});
  t.after(async () => { await svc.close(); await tc.close(); });
  svc.coord.configure('g');
  await svc.commit([], true);

  let release!: () => void;
  gate = new Promise<void>((r) => { release = r; });
  const log = await dir.open(0);
  const endBefore = log.logEndOffset;
  // An ack and an acquisition read in the same I/O phase: one run, one append, one fsync.
  svc.coord.configure('acked');
  let acked = false;
  const ack = svc.commit([], true).then(() => { acked = true; });
  svc.coord.configure('acquired');
  let pickedUp = false;
  let endWhenAnswered = -1;
  const acquire = svc.commit([], false).then(() => { pickedUp = true; endWhenAnswered = log.logEndOffset; });
  await flushing; // the shared write is in the log; its fsync is held
  let turns = 0;
  while (!pickedUp && turns < 50) {
    await new Promise<void>((r) => setImmediate(r));
    turns++;
  }
  assert.ok(pickedUp, 'the acquisition waited for the ack\'s fsync (held): a pick-up then waits for someone else\'s fsync');
  assert.equal(acked, false, 'the ack is answered only after its fsync');
  assert.ok(endWhenAnswered > endBefore, 'the acquisition was answered before its change was in the log (a crash would lose its delivery count)');
  const stored = (await log.read(0, 1 << 20)).bytes;
  assert.ok(stored.includes('acquired') && stored.includes('acked'), 'both changes are in the one write');
  release();
  await Promise.all([ack, acquire]);
  assert.equal(acked, true);
});

test('single node: the rewrite a failed write asks for is done before close() returns, not abandoned by it', async (t) => {
  const tc = await testContext({ log: createLogger('error', () => {}) });
  t.after(() => tc.close());
  // Generation 1 (the rewrite's) is made only once the test lets it: close() is called while
  // the rewrite is still making it, as a shutdown right after a failed write would.
  let reached!: () => void;
  const atFresh = new Promise<void>((resolve) => { reached = resolve; });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  class GatedDir extends MemoryGenerationDir {
    override async remove(gen: number): Promise<void> {
      if (gen === 1 && !this.logs.has(1)) {
        reached();
        await gate;
      }
      return super.remove(gen);
    }
  }
  const dir = new GatedDir();
  const svc = await ShareService.open(tc.ctx, dir, {});
  svc.coord.configure('g1');
  await svc.commit([], true);
  const log = await dir.open(0);
  log.failNextAppend = new SluiceError('STORAGE_ERROR', 'ENOSPC: no space left on device');
  svc.coord.configure('g2');
  const failed = svc.commit([], true);
  failed.catch(() => undefined);
  await atFresh;
  // Shutdown begins while the rewrite is making its generation; it goes on from there.
  const closing = svc.close();
  release();
  await closing;
  await assert.rejects(failed, /ENOSPC/);
  // Reopened from what close() left: memory's groups, g2 included (the rewrite put it there).
  const again = await ShareService.open(tc.ctx, dir, {});
  assert.deepEqual(again.coord.groups().sort(), ['g1', 'g2'], 'the state log holds what memory held at close');
  await again.close();
});
