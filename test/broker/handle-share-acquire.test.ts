// ShareAcquire answers with the lock deadline the coordinator set, not a time computed after
// the state commit: a worker extends its locks by that deadline, so a later one would let a
// lock expire (and the job be handed to another worker) while the first still works on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleShareAcquire, READ_RETRY_MS } from '../../src/broker/handle-share-acquire.js';
import { Api } from '../../src/protocol/api.js';
import { decodeBatches } from '../../src/record/index.js';
import { shareJobsContext } from './test-context.js';

test('the acquire response carries the lock deadline the coordinator set, even when the commit stalls', async (t) => {
  let now = 1_700_000_000_000;
  t.mock.method(Date, 'now', () => now);
  const { ctx, svc } = await shareJobsContext(t, [{ value: 'a' }, { value: 'b' }]);
  // The state commit takes 5 s (a slow disk, a stalled machine) before the answer goes out.
  const commit = svc.commit.bind(svc);
  svc.commit = (dls, durable) => {
    now += 5_000;
    return commit(dls, durable);
  };
  const acquiredAt = now;
  const res = await handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords: 10, maxWaitMs: 0, settings: { visibilityTimeoutMs: 30_000 },
  });
  assert.equal(res.partitions.length, 1);
  const [p] = res.partitions;
  assert.deepEqual(p.acquired.map((r) => [r.firstOffset, r.lastOffset]), [[0, 1]]);
  const coordDeadline = svc.coord.group('g')!.existing('jobs', 0)!.lockDeadline;
  assert.equal(coordDeadline, acquiredAt + 30_000, 'the coordinator locked at acquire time');
  assert.equal(p.lockDeadline, coordDeadline, 'the response names the deadline the locks actually have');
});

test('an acquire answers only the records it acquired, not the whole stored batch: two workers splitting one batch each get their own', async (t) => {
  const { ctx } = await shareJobsContext(t, Array.from({ length: 100 }, (_, i) => ({ value: `job-${i}`.padEnd(100, '.') })));
  const acquire = (workerId: string) => handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId, topics: ['jobs'], maxRecords: 30, maxWaitMs: 0,
  });
  for (const [worker, first] of [['w1', 0], ['w2', 30]] as const) {
    const [p] = (await acquire(worker)).partitions;
    assert.deepEqual(p.acquired.map((r) => [r.firstOffset, r.lastOffset]), [[first, first + 29]]);
    const records = [...decodeBatches(p.records as Buffer)].flatMap((b) => b.records);
    assert.deepEqual(records.map((r) => r.offset), Array.from({ length: 30 }, (_, i) => first + i), `${worker} gets exactly its 30 records`);
    assert.deepEqual(records.map((r) => r.value!.toString().replace(/\.+$/, '')), records.map((r) => `job-${r.offset}`));
    assert.ok((p.records as Buffer).length < 30 * 120 + 61, `${(p.records as Buffer).length} bytes for 30 jobs of 100 bytes (the stored batch is ~11 KB)`);
  }
});

test('records whose read failed are given back as never taken and offered again soon, not locked to a worker that never saw them', async (t) => {
  let now = 1_700_000_000_000;
  t.mock.method(Date, 'now', () => now);
  const { ctx, logs, svc } = await shareJobsContext(t, [{ value: 'a' }, { value: 'b' }]);
  const log = logs.log('jobs', 0)!;
  // The read for the answer fails once (in a cluster: the partition's leader moving).
  const read = log.read.bind(log);
  let failures = 1;
  t.mock.method(log, 'read', (offset: number, maxBytes: number) => (failures-- > 0 ? Promise.reject(new Error('leader moving')) : read(offset, maxBytes)));
  const acquire = () => handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords: 10, maxWaitMs: 0, settings: { visibilityTimeoutMs: 30_000 },
  });
  const first = await acquire();
  assert.equal(first.partitions.length, 1);
  assert.ok(first.partitions[0]!.error, 'the partition of the answer failed');
  assert.equal(svc.coord.describe('g').inFlight, 0, 'nothing stays locked to the worker');
  // Offered again after READ_RETRY_MS (not a visibility timeout), as first deliveries.
  assert.deepEqual((await acquire()).partitions.flatMap((p) => p.acquired), [], 'not before READ_RETRY_MS');
  now += READ_RETRY_MS;
  const second = await acquire();
  assert.deepEqual(second.partitions.map((p) => p.acquired.map((r) => [r.firstOffset, r.lastOffset, r.deliveryCount])), [[[0, 1, 1]]]);
});

test('an acquire reads its records while its state write is in progress: the answer waits for the longer of the two, not both (pick-up latency)', async (t) => {
  const { ctx, logs, svc } = await shareJobsContext(t, [{ value: 'a' }]);
  const log = logs.log('jobs', 0)!;
  // The state write is held (a loaded disk) until released; the read of the records takes
  // READ_TURNS event-loop turns (on a loaded machine each hand-off to libuv's pool and back
  // is one or more). Neither does real I/O here, so turns are all that is counted.
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let committing!: () => void;
  const commitStarted = new Promise<void>((r) => { committing = r; });
  svc.commit = () => {
    committing();
    return gate;
  };
  const READ_TURNS = 10;
  const stored = await log.read(0, 1 << 20);
  t.mock.method(log, 'read', async () => {
    for (let i = 0; i < READ_TURNS; i++) await new Promise<void>((r) => setImmediate(r));
    return stored;
  });
  let answered = false;
  const res = handleShareAcquire(ctx, {
    id: 1, api: Api.ShareAcquire, version: 0, groupId: 'g', workerId: 'w', topics: ['jobs'], maxRecords: 10, maxWaitMs: 0,
  }).then((r) => { answered = true; return r; });
  await commitStarted;
  // The write stays held for longer than the read takes.
  for (let i = 0; i < 2 * READ_TURNS; i++) await new Promise<void>((r) => setImmediate(r));
  release();
  let turns = 0;
  while (!answered && turns < 100) {
    await new Promise<void>((r) => setImmediate(r));
    turns++;
  }
  const [p] = (await res).partitions;
  assert.deepEqual([...decodeBatches(p.records as Buffer)].flatMap((b) => b.records).map((r) => r.value!.toString()), ['a']);
  assert.ok(turns <= 2, `answered ${turns} event-loop turns after the state write ended (the read of ${READ_TURNS} turns began only then)`);
});
