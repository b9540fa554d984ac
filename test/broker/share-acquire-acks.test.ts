// Settles carried by a ShareAcquire (`acks`): applied before the acquisition, the acquisition
// answered once its state write is in the log, and the settles' results told (a later answer's
// `acked`, or a `share-acks` push) only once their state is fsynced; a failed fsync fails
// every carried entry, as
// a ShareAck's answer would fail. The state log's fsync is held or failed through the storage
// file-system seam (storage/file-system.ts), so the order tested is the real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAcquire } from '../../src/broker/handle-share-acquire.js';
import { outcomesOwed } from '../../src/broker/share-acks-owed.js';
import type { RequestScope } from '../../src/broker/context.js';
import { Api, type ShareAcksPush } from '../../src/protocol/api.js';
import { RecordState } from '../../src/queue/types.js';
import { nodeFileSystem, type FileSystem, type StorageFile } from '../../src/storage/file-system.js';
import { SHARE_STATE_PREFIX } from '../../src/queue/share-state-log.js';
import { shareJobsContext } from './test-context.js';

/** A disk whose fdatasync of the share state log can be held (`hold`) or made to fail once (`failNext`). */
function shareStateDisk() {
  const disk = {
    hold: undefined as Promise<void> | undefined,
    failNext: false,
    /** fdatasyncs of the share state log begun. */
    syncs: 0,
    fs: undefined as unknown as FileSystem,
  };
  disk.fs = {
    ...nodeFileSystem,
    async open(path, flags) {
      const f = await nodeFileSystem.open(path, flags);
      if (!path.includes(SHARE_STATE_PREFIX)) return f;
      const wrapped: StorageFile = {
        read: (...a) => f.read(...a), write: (...a) => f.write(...a), writev: (...a) => f.writev(...a),
        truncate: (n) => f.truncate(n), sync: () => f.sync(), stat: () => f.stat(), close: () => f.close(),
        async datasync() {
          disk.syncs++;
          if (disk.hold) await disk.hold;
          if (disk.failNext) {
            disk.failNext = false;
            throw Object.assign(new Error(`EIO: i/o error, fdatasync '${path}'`), { code: 'EIO' });
          }
          return f.datasync();
        },
      };
      return wrapped;
    },
  };
  return disk;
}

/** A connection as the handlers see it, keeping what is pushed on it. */
function pushScope() {
  const pushes: ShareAcksPush[] = [];
  let wake: (() => void) | undefined;
  const scope = {
    closed: false,
    onClose: () => () => {},
    push(msg: object) {
      pushes.push(msg as ShareAcksPush);
      wake?.();
    },
    reserveOutput: async (want: number) => want,
    adjustOutput() {},
  } as unknown as RequestScope;
  const nextPush = (): Promise<ShareAcksPush> => (pushes.length ? Promise.resolve(pushes[pushes.length - 1]) : new Promise((r) => { wake = () => r(pushes[pushes.length - 1]); }));
  return { scope, pushes, nextPush };
}

async function setUp(t: { after: (fn: () => Promise<void>) => void }) {
  const disk = shareStateDisk();
  const { ctx, svc } = await shareJobsContext(t, 30, { fs: disk.fs });
  const { scope, pushes, nextPush } = pushScope();
  const acquire = (maxRecords: number, acks?: { seq: number; workers: { workerId: string; holder?: string; entries: { topic: string; partition: number; offsets: number[]; type: 'ack' | 'release'; kind?: 'unstarted' }[] }[] }) =>
    handleShareAcquire(ctx, { id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords, maxWaitMs: 0, ...(acks && { acks }) }, scope);
  return { ctx, svc, disk, scope, pushes, nextPush, acquire };
}

/** Resolves with `p`'s value, or fails naming `what` when it takes longer than 20 s (far beyond a stall). */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), 20_000); })]).finally(() => clearTimeout(timer));
}

const ack = (offsets: number[]) => ({ topic: 'jobs', partition: 0, offsets, type: 'ack' as const });

test('acks carried by an acquire: the acquisition is answered once written, the acks\' push comes only after their fsync', async (t) => {
  const { svc, disk, pushes, nextPush, acquire } = await setUp(t);
  const first = await acquire(10);
  assert.deepEqual(first.partitions[0].acquired, [{ firstOffset: 0, lastOffset: 9, deliveryCount: 1 }]);

  let release!: () => void;
  disk.hold = new Promise<void>((r) => { release = r; });
  const syncsBefore = disk.syncs;
  const res = await within(acquire(5, { seq: 7, workers: [{ workerId: 'w', entries: [ack([0, 1, 2, 3, 4])] }] }), 'the acquisition waited for the acks\' fsync (held)');
  assert.equal(res.acksTaken, true);
  assert.deepEqual(res.partitions[0].acquired, [{ firstOffset: 10, lastOffset: 14, deliveryCount: 1 }]);
  assert.ok(disk.syncs > syncsBefore, 'the carried acks asked for an fsync');
  // Their fsync is held: nothing may say they are durable yet.
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(pushes.length, 0, 'the acks were confirmed before their fsync');

  release();
  disk.hold = undefined;
  // No acquire follows to take the outcome: pushed (share-acks-owed.ts).
  const push = await within(nextPush(), 'the share-acks push');
  assert.deepEqual(push, { id: 0, push: 'share-acks', acked: [{ groupId: 'g', seq: 7, workers: [{ results: [{}] }] }] });
  const p = svc.coord.group('g')!.existing('jobs', 0)!;
  for (let o = 0; o < 5; o++) assert.equal(p.stateOf(o), RecordState.ACKED, `offset ${o}`);
  for (const o of [5, 10]) assert.equal(p.stateOf(o), RecordState.ACQUIRED, `offset ${o}`);
});

test('a failed fsync fails every carried entry in the push; the acquisition itself is answered', async (t) => {
  const { disk, nextPush, acquire } = await setUp(t);
  await acquire(10);
  disk.failNext = true;
  const res = await within(acquire(2, { seq: 1, workers: [{ workerId: 'w', entries: [ack([0, 1]), ack([2])] }] }), 'the acquisition');
  assert.equal(res.acksTaken, true);
  assert.equal(res.partitions[0].acquired.length, 1);
  const push = await within(nextPush(), 'the share-acks push');
  assert.equal(push.acked[0].seq, 1);
  assert.deepEqual(push.acked[0].workers[0].results.map((r) => r.error?.code), [-1, -1], 'each entry failed with the write\'s error (UNKNOWN_SERVER_ERROR, as a ShareAck\'s answer)');
});

test('carried settles refused by the holder check are told in the acquire\'s own answer, with no commit', async (t) => {
  const { svc, acquire, pushes } = await setUp(t);
  await acquire(4);
  let durable = 0;
  const commit = svc.commit.bind(svc);
  svc.commit = (dls, d) => {
    if (d) durable++;
    return commit(dls, d);
  };
  const res = await acquire(1, { seq: 3, workers: [{ workerId: 'w', holder: 'stale.1.1', entries: [{ ...ack([0]), type: 'release', kind: 'unstarted' }] }] });
  assert.equal(res.acksTaken, true);
  // Nothing to wait for: the outcome is owed at once, and told in this very answer, unless the
  // acquisition's read and write outlast OWED_PUSH_MS (10 ms: a stalled machine does) and it
  // is pushed first (share-acks-owed.ts). Told once either way.
  const told = [...(res.acked ?? []), ...pushes.flatMap((p) => p.acked)];
  assert.deepEqual(told.map((r) => r.seq), [3], 'the outcome is told once, in the answer or a push before it');
  assert.equal(told[0].workers[0].results[0].error?.code, 121, 'INVALID_RECORD_STATE: not the worker\'s token');
  assert.equal(durable, 0, 'nothing changed, nothing made durable');
  assert.equal(svc.coord.group('g')!.existing('jobs', 0)!.stateOf(0), RecordState.ACQUIRED);
});

test('a durable outcome rides on the next acquire answer of its group on the connection, else it is pushed after the grace', async (t) => {
  const { scope, nextPush, pushes, acquire } = await setUp(t);
  await acquire(10);
  const first = await acquire(2, { seq: 11, workers: [{ workerId: 'w', entries: [ack([0])] }] });
  assert.equal(first.acksTaken, true);
  await outcomesOwed(scope); // durable, and owed to the connection
  const next = await acquire(2);
  if (pushes.length === 0) {
    assert.deepEqual(next.acked, [{ groupId: 'g', seq: 11, workers: [{ results: [{}] }] }], 'told with the next answer');
  } else {
    // The machine stalled past the grace before the next answer: pushed instead, never both.
    assert.equal(next.acked, undefined);
    assert.equal(pushes[0].acked[0].seq, 11);
  }
  // With no acquire after it, an outcome is pushed.
  await acquire(1, { seq: 12, workers: [{ workerId: 'w', entries: [ack([1])] }] });
  const push = await within(nextPush(), 'the share-acks push');
  assert.equal(push.acked.at(-1)?.seq, 12);
});
