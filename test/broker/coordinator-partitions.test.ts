// The coordinators of the coordinator partitions a broker leads (cluster mode): loading,
// loaded, dropped, a late load after a move, a failed load retried, a loaded coordinator fenced
// before its role change arrives, a load that waits for the close of the coordinator it
// replaces, a reload asked by a dropped coordinator ignored. No sockets, no etcd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinatorPartitions } from '../../src/broker/coordinator-partitions.js';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { systemClock } from '../../src/group/types.js';
import { createLogger } from '../../src/broker/logger.js';
import type { SluiceError } from '../../src/errors.js';

const silent = createLogger('error', () => {});

async function coordinator(): Promise<GroupCoordinator> {
  return new GroupCoordinator(await OffsetStore.open(new MemoryGenerationDir(), { clock: systemClock }));
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'none';
  } catch (err) {
    return (err as SluiceError).code;
  }
};

test('a led partition is LOAD_IN_PROGRESS until its replay finishes, then serves; dropped on losing it: NOT_COORDINATOR', async () => {
  const loads: ReturnType<typeof deferred<GroupCoordinator>>[] = [];
  const closed: GroupCoordinator[] = [];
  let count: number | undefined;
  let led = false;
  const parts = new CoordinatorPartitions({
    open: () => { const d = deferred<GroupCoordinator>(); loads.push(d); return d.promise; },
    close: async (c) => { closed.push(c); },
    partitionCount: () => count,
    ledHere: () => led,
    leaderEpoch: () => 1, refusal: () => undefined,
    log: silent, groupCount: (c: GroupCoordinator) => c.listGroups().length,
  });
  assert.equal(codeOf(() => parts.lookup('g')), 'NOT_COORDINATOR', 'no coordinator topic yet');
  count = 1;
  assert.equal(codeOf(() => parts.lookup('g')), 'NOT_COORDINATOR', 'another broker leads');
  led = true;
  assert.equal(codeOf(() => parts.lookup('g')), 'COORDINATOR_LOAD_IN_PROGRESS', 'etcd names this broker, the role change is on its way');
  parts.roleChanged(0, true);
  assert.equal(codeOf(() => parts.lookup('g')), 'COORDINATOR_LOAD_IN_PROGRESS');
  const c = await coordinator();
  loads[0]!.resolve(c);
  await new Promise((r) => setImmediate(r));
  assert.equal(parts.lookup('g'), c);
  assert.deepEqual(parts.coordinators(), [c]);
  led = false;
  parts.roleChanged(0, false);
  assert.equal(codeOf(() => parts.lookup('g')), 'NOT_COORDINATOR');
  assert.deepEqual(closed, [c], 'the dropped coordinator is closed');
  assert.deepEqual(parts.coordinators(), []);
});

test('a load that finishes after the partition moved on is closed, not installed; a new leadership loads again', async () => {
  const loads: ReturnType<typeof deferred<GroupCoordinator>>[] = [];
  const closed: GroupCoordinator[] = [];
  const parts = new CoordinatorPartitions({
    open: () => { const d = deferred<GroupCoordinator>(); loads.push(d); return d.promise; },
    close: async (c) => { closed.push(c); },
    partitionCount: () => 1, ledHere: () => false, leaderEpoch: () => 1, refusal: () => undefined, log: silent, groupCount: () => 0,
  });
  parts.roleChanged(0, true);
  await new Promise((r) => setImmediate(r)); // the first load has started its replay
  parts.roleChanged(0, false);
  parts.roleChanged(0, true); // leader again at a newer epoch: a second load
  await new Promise((r) => setImmediate(r));
  const stale = await coordinator();
  loads[0]!.resolve(stale);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(closed, [stale]);
  assert.equal(codeOf(() => parts.lookup('g')), 'COORDINATOR_LOAD_IN_PROGRESS', 'the second load is still running');
  const fresh = await coordinator();
  loads[1]!.resolve(fresh);
  await new Promise((r) => setImmediate(r));
  assert.equal(parts.lookup('g'), fresh);
  await parts.close();
  assert.deepEqual(closed, [stale, fresh]);
});

test('a failed load answers COORDINATOR_NOT_AVAILABLE and is tried again while still leader', async () => {
  let attempts = 0;
  const c = await coordinator();
  // What a request sees while the failure is reported (the warn is logged as the load fails,
  // before the retry timer can run, however the machine stalls).
  let duringFailure = '';
  const log = createLogger('warn', (line) => { if (line.includes('load failed')) duringFailure = codeOf(() => parts.lookup('g')); });
  const parts: CoordinatorPartitions<GroupCoordinator> = new CoordinatorPartitions<GroupCoordinator>({
    open: async () => { attempts++; if (attempts === 1) throw new Error('NOT_ENOUGH_REPLICAS'); return c; },
    close: async () => {}, partitionCount: () => 1, ledHere: () => true, leaderEpoch: () => 1, refusal: () => undefined, log, retryMs: 10, groupCount: () => 0,
  });
  parts.roleChanged(0, true);
  const deadline = Date.now() + 10_000;
  while (parts.coordinators().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(duringFailure, 'COORDINATOR_NOT_AVAILABLE');
  assert.equal(parts.lookup('g'), c);
  assert.equal(attempts, 2);
  await parts.close();
});

test('a loaded coordinator answers only while its leadership at the load epoch holds: fenced (NOT_COORDINATOR) before the role change arrives', async () => {
  // What the replica manager says: this broker's leadership epoch, and whether its session is valid.
  let epoch: number | undefined = 7;
  let sessionValid = true;
  const opened: number[] = [];
  const asked: number[] = [];
  const c = await coordinator();
  const parts = new CoordinatorPartitions({
    open: async (_p, e) => { opened.push(e); return c; },
    close: async () => {}, partitionCount: () => 1, ledHere: () => true, log: silent, groupCount: () => 0,
    leaderEpoch: () => epoch,
    refusal: (_p, e) => {
      asked.push(e);
      if (epoch !== e) return `leads at epoch ${String(epoch)}, loaded at ${e}`;
      return sessionValid ? undefined : 'self-fenced';
    },
  });
  parts.roleChanged(0, true);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(opened, [7], 'loaded at the leadership epoch of the moment');
  assert.equal(parts.lookup('g'), c);
  // A broker paused past its lease wakes up: the session lapsed, the role change is not here yet.
  sessionValid = false;
  assert.equal(codeOf(() => parts.lookup('g')), 'NOT_COORDINATOR');
  assert.equal(parts.has('g'), undefined, 'nor for pushes');
  sessionValid = true;
  assert.equal(parts.lookup('g'), c, 'a renewed session serves again (no one else was elected meanwhile: same epoch)');
  // Leadership moved on (away and back at a newer epoch) before this coordinator was dropped.
  epoch = 9;
  assert.equal(codeOf(() => parts.lookup('g')), 'NOT_COORDINATOR');
  assert.ok(asked.every((e) => e === 7), 'checked against the epoch it loaded under');
  await parts.close();
});

test('a load whose leadership ended before it started fails (COORDINATOR_NOT_AVAILABLE), never opens without an epoch', async () => {
  let opens = 0;
  const parts = new CoordinatorPartitions({
    open: async () => { opens++; return coordinator(); },
    close: async () => {}, partitionCount: () => 1, ledHere: () => true, log: silent, retryMs: 60_000, groupCount: () => 0,
    leaderEpoch: () => undefined, refusal: () => undefined,
  });
  parts.roleChanged(0, true);
  await new Promise((r) => setImmediate(r));
  assert.equal(codeOf(() => parts.lookup('g')), 'COORDINATOR_NOT_AVAILABLE');
  assert.equal(opens, 0);
  await parts.close();
});

test('a new load starts only once the coordinator it replaces has closed (its writes in flight ended): never two side by side', async () => {
  const closes: ReturnType<typeof deferred<void>>[] = [];
  const opened: number[] = [];
  const parts = new CoordinatorPartitions({
    open: async (_p, e) => { opened.push(e); return coordinator(); },
    close: () => { const d = deferred<void>(); closes.push(d); return d.promise; },
    partitionCount: () => 1, ledHere: () => true, leaderEpoch: () => opened.length + 1, refusal: () => undefined, log: silent, groupCount: () => 0,
  });
  parts.roleChanged(0, true);
  const deadline = Date.now() + 10_000;
  while (parts.coordinators().length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.equal(parts.coordinators().length, 1);
  // Away and back (a controlled shutdown's move, then leader again): the old one is still closing.
  parts.roleChanged(0, false);
  parts.roleChanged(0, true);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(opened, [1], 'no replay while the dropped coordinator may still write');
  assert.equal(codeOf(() => parts.lookup('g')), 'COORDINATOR_LOAD_IN_PROGRESS');
  closes[0]!.resolve();
  while (parts.coordinators().length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.deepEqual(opened, [1, 2], 'loaded once the old one closed');
  const closing = parts.close();
  closes[1]!.resolve();
  await closing;
});

test('a reload asked by a coordinator that is no longer the partition\'s (a dropped one\'s late failed write) does not drop its successor', async () => {
  const reloads: (() => void)[] = [];
  const made: GroupCoordinator[] = [];
  const parts = new CoordinatorPartitions({
    open: async (_p, _e, reload) => { reloads.push(reload); const c = await coordinator(); made.push(c); return c; },
    close: async () => {}, partitionCount: () => 1, ledHere: () => true, leaderEpoch: () => 1, refusal: () => undefined, log: silent, groupCount: () => 0,
  });
  const loaded = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while ((made.length < n || parts.coordinators()[0] !== made[n - 1]) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(parts.lookup('g'), made[n - 1]);
  };
  parts.roleChanged(0, true);
  await loaded(1);
  // Its write failed: it asks for a reload, which replaces it.
  reloads[0]!();
  await loaded(2);
  // The first one's next failure arrives late: the second stays, nothing loads again.
  reloads[0]!();
  await new Promise((r) => setImmediate(r));
  assert.equal(parts.lookup('g'), made[1]);
  assert.equal(reloads.length, 2);
  // The current one's own reload still works.
  reloads[1]!();
  await loaded(3);
  await parts.close();
});

test('a load overtaken by a newer one (its open finished late) is closed before the newer one opens: never two side by side', async () => {
  const closes: ReturnType<typeof deferred<void>>[] = [];
  const opens: ReturnType<typeof deferred<GroupCoordinator>>[] = [];
  const opened: number[] = [];
  const parts = new CoordinatorPartitions({
    open: (_p, e) => { opened.push(e); const d = deferred<GroupCoordinator>(); opens.push(d); return d.promise; },
    close: () => { const d = deferred<void>(); closes.push(d); return d.promise; },
    partitionCount: () => 1, ledHere: () => true, leaderEpoch: () => opened.length + 1, refusal: () => undefined, log: silent, groupCount: () => 0,
  });
  const deadline = Date.now() + 10_000;
  const until = async (cond: () => boolean) => { while (!cond() && Date.now() < deadline) await new Promise((r) => setImmediate(r)); };
  parts.roleChanged(0, true);
  await until(() => opened.length === 1);
  // Away and back while the first replay still runs: the second load waits for nothing (no
  // coordinator was installed) and opens at once.
  parts.roleChanged(0, false);
  parts.roleChanged(0, true);
  await until(() => opened.length === 2);
  assert.deepEqual(opened, [1, 2]);
  // The second load finishes and is installed; then the overtaken first one finishes late.
  opens[1]!.resolve(await coordinator());
  await until(() => parts.coordinators().length === 1);
  opens[0]!.resolve(await coordinator());
  await until(() => closes.length === 1);
  assert.equal(closes.length, 1, 'the overtaken coordinator is closed, not installed');
  // Moved away and back again: the next load must wait for that late close as for any drop.
  parts.roleChanged(0, false);
  parts.roleChanged(0, true);
  await until(() => closes.length === 2);
  closes[1]!.resolve(); // the installed one, dropped now, has closed; the overtaken one has not
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(opened, [1, 2], 'no replay while the overtaken coordinator may still write');
  closes[0]!.resolve();
  await until(() => opened.length === 3);
  assert.deepEqual(opened, [1, 2, 3]);
  opens[2]!.resolve(await coordinator());
  await until(() => parts.coordinators().length === 1);
  const closing = parts.close();
  for (const c of closes) c.resolve();
  await until(() => closes.length === 3);
  for (const c of closes) c.resolve();
  await closing;
});
