/**
 * The idempotent producer's side of a partition log (KIP-98): a leader append checks each
 * batch that carries a producer id against the partition's producer state, in the append
 * queue; the state survives a close, a crash (snapshot + replay of the tail, or a replay of
 * the whole log), a truncation, and is dropped for producers idle past the expiry.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeBatch } from '../../src/record/index.js';
import { DiskPartitionLog, type StorageLogger } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { PRODUCER_STATE_FILE } from '../../src/storage/producer-state-file.js';
import type { SluiceError } from '../../src/errors.js';
import { storedBatches, tempDir } from './helpers.js';

const CFG = effectiveConfig({ retentionMs: -1 });
/** Small segments: a roll every few batches. */
const SMALL = effectiveConfig({ segmentBytes: 400, retentionMs: -1 });

/** A batch of `n` records of producer `pid`, epoch `epoch`, from sequence `seq`; values name the sequence. */
function pbatch(pid: number, epoch: number, seq: number, n = 2): Buffer {
  const recs = Array.from({ length: n }, (_, i) => ({ value: `p${pid}e${epoch}s${seq + i}`, timestamp: 1_700_000_000_000 }));
  return encodeBatch(recs, { producerId: pid, producerEpoch: epoch, baseSequence: seq, now: 1_700_000_000_000 });
}

async function values(log: DiskPartitionLog): Promise<string[]> {
  return (await storedBatches(log)).flatMap((b) => b.values);
}

/** A temp dir, and the logs to close (in reverse) before it is removed, even when the test fails. */
async function setup(t: TestContext): Promise<{ dir: string; closing: (log: DiskPartitionLog) => DiskPartitionLog }> {
  const { dir, cleanup } = await tempDir();
  const logs: DiskPartitionLog[] = [];
  t.after(async () => {
    for (const l of logs.reverse()) await l.close().catch(() => {});
    await cleanup();
  });
  return { dir, closing: (log) => { logs.push(log); return log; } };
}

const code = (name: string) => (e: unknown) => (e as SluiceError).code === name;

function events(): { logger: StorageLogger; seen: { event: string; fields: Record<string, unknown> }[] } {
  const seen: { event: string; fields: Record<string, unknown> }[] = [];
  return { logger: (event, fields) => seen.push({ event, fields }), seen };
}

test('a retry of a stored batch is not appended and is answered with the offsets of the first store', async (t) => {
  const { dir, closing } = await setup(t);
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG));
  const first = await log.append(pbatch(1, 0, 0));
  const second = await log.append(pbatch(1, 0, 2));
  const again = await log.append(pbatch(1, 0, 0));
  assert.deepEqual([again.baseOffset, again.lastOffset, again.duplicate], [first.baseOffset, first.lastOffset, true]);
  assert.equal(first.duplicate, undefined);
  assert.equal(log.logEndOffset, 4, 'nothing appended for the retry');
  const third = await log.append(pbatch(1, 0, 4));
  assert.equal(third.baseOffset, 4);
  assert.equal((await log.append(pbatch(1, 0, 2))).baseOffset, second.baseOffset, 'any of the last five batches is remembered');
  assert.deepEqual(await values(log), ['p1e0s0', 'p1e0s1', 'p1e0s2', 'p1e0s3', 'p1e0s4', 'p1e0s5']);
});

test('two appends of the same batch issued together: exactly one is stored (the check runs in the queue)', async (t) => {
  const { dir, closing } = await setup(t);
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG));
  const rs = await Promise.all([log.append(pbatch(3, 0, 0)), log.append(pbatch(3, 0, 0)), log.append(pbatch(3, 0, 2)), log.append(pbatch(3, 0, 2))]);
  assert.deepEqual(rs.map((r) => [r.baseOffset, r.duplicate === true]), [[0, false], [0, true], [2, false], [2, true]]);
  assert.equal(log.logEndOffset, 4);
});

test('a gap, an older epoch and an unknown producer continuing a sequence are refused and store nothing', async (t) => {
  const { dir, closing } = await setup(t);
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG));
  await log.append(pbatch(1, 0, 0));
  await assert.rejects(log.append(pbatch(1, 0, 5)), (e: unknown) => code('OUT_OF_ORDER_SEQUENCE_NUMBER')(e) && /expected sequence 2, got 5/.test((e as Error).message));
  await log.append(pbatch(1, 1, 0)); // a new epoch starts at 0
  await assert.rejects(log.append(pbatch(1, 0, 2)), code('INVALID_PRODUCER_EPOCH'));
  await assert.rejects(log.append(pbatch(2, 0, 7)), code('UNKNOWN_PRODUCER_ID'));
  assert.equal(log.logEndOffset, 4);
  // A refused append does not disturb the ones queued with it.
  const rs = await Promise.allSettled([log.append(pbatch(1, 1, 2)), log.append(pbatch(1, 1, 9)), log.append(pbatch(1, 1, 4))]);
  assert.deepEqual(rs.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual(await values(log), ['p1e0s0', 'p1e0s1', 'p1e1s0', 'p1e1s1', 'p1e1s2', 'p1e1s3', 'p1e1s4', 'p1e1s5']);
});

test('batches without a producer id are never checked, and a record set continuing its own sequence is accepted whole', async (t) => {
  const { dir, closing } = await setup(t);
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG));
  const plain = encodeBatch([{ value: 'x' }]);
  await log.append(plain);
  await log.append(encodeBatch([{ value: 'x' }]));
  const set = await log.append(Buffer.concat([pbatch(4, 0, 0), pbatch(4, 0, 2)]));
  assert.deepEqual([set.baseOffset, set.lastOffset], [2, 5]);
  const retry = await log.append(Buffer.concat([pbatch(4, 0, 0), pbatch(4, 0, 2)]));
  assert.deepEqual([retry.baseOffset, retry.lastOffset, retry.duplicate], [2, 5, true]);
  await assert.rejects(log.append(Buffer.concat([pbatch(4, 0, 4), pbatch(4, 0, 9)])), code('OUT_OF_ORDER_SEQUENCE_NUMBER'));
  await assert.rejects(log.append(Buffer.concat([pbatch(4, 0, 2), pbatch(4, 0, 4)])), /mixes/);
  assert.equal(log.logEndOffset, 6);
});

test('state survives a clean close: the snapshot at the log end, nothing replayed', async (t) => {
  const { dir, closing } = await setup(t);
  let log = await DiskPartitionLog.open(dir, 't', 0, CFG);
  for (let s = 0; s < 10; s += 2) await log.append(pbatch(1, 0, s));
  await log.close();
  const ev = events();
  log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG, { logger: ev.logger }));
  assert.deepEqual(ev.seen.filter((e) => e.event.startsWith('storage.producer-state')), []);
  assert.deepEqual(await log.append(pbatch(1, 0, 8)).then((r) => [r.baseOffset, r.duplicate]), [8, true]);
  await assert.rejects(log.append(pbatch(1, 0, 12)), code('OUT_OF_ORDER_SEQUENCE_NUMBER'));
  assert.equal((await log.append(pbatch(1, 0, 10))).baseOffset, 10);
});

test('after a crash: the snapshot written at the last roll, then the active segment replayed', async (t) => {
  const { dir, closing } = await setup(t);
  const crashed = closing(await DiskPartitionLog.open(dir, 't', 0, SMALL));
  // Producer 1 writes only before the last roll (its state comes from the snapshot), producer 2
  // also after it (replayed from the active segment).
  for (let s = 0; s < 6; s += 2) await crashed.append(pbatch(1, 0, s));
  for (let s = 0; s < 20; s += 2) await crashed.append(pbatch(2, 0, s));
  assert.ok(crashed.stats().segmentCount >= 3, 'several rolls happened');
  // No close: a crash (no clean-shutdown marker, no snapshot at the end).
  const ev = events();
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, SMALL, { logger: ev.logger }));
  assert.deepEqual(ev.seen.filter((e) => e.event.startsWith('storage.producer-state')), [], 'no rebuild from the log start');
  assert.equal((await log.append(pbatch(1, 0, 4))).duplicate, true, 'producer 1 from the snapshot');
  assert.equal((await log.append(pbatch(2, 0, 18))).duplicate, true, 'producer 2 from the replayed tail');
  assert.equal((await log.append(pbatch(2, 0, 20))).duplicate, undefined);
});

test('a missing or damaged snapshot: the whole log is replayed (and logged), with the same answers', async (t) => {
  const { dir, closing } = await setup(t);
  let log = await DiskPartitionLog.open(dir, 't', 0, SMALL);
  for (let s = 0; s < 20; s += 2) await log.append(pbatch(1, 0, s));
  await log.close();
  for (const [damage, event] of [
    [() => rm(join(dir, PRODUCER_STATE_FILE)), 'storage.producer-state.replayed'],
    [() => writeFile(join(dir, PRODUCER_STATE_FILE), '{"version":1,"offset":3,"producers":[{"id":"x"}]}'), 'storage.producer-state.rebuilt'],
    [() => writeFile(join(dir, PRODUCER_STATE_FILE), '{"version":1,"offset":9999,"producers":[{"id":9,"epoch":0,"lastTimestamp":0,"batches":[[0,1,0,1]]}]}'), 'storage.producer-state.rebuilt'],
  ] as const) {
    await damage();
    const ev = events();
    log = await DiskPartitionLog.open(dir, 't', 0, SMALL, { logger: ev.logger });
    const seen = ev.seen.filter((e) => e.event.startsWith('storage.producer-state'));
    assert.deepEqual(seen.map((e) => [e.event, e.fields.fromOffset, e.fields.batches]), [[event, 0, 10]]);
    assert.equal((await log.append(pbatch(1, 0, 18))).duplicate, true);
    await assert.rejects(log.append(pbatch(1, 0, 22)), code('OUT_OF_ORDER_SEQUENCE_NUMBER'));
    await log.close();
  }
});

test('truncateTo forgets the cut batches (their retry is stored again), also across a crash', async (t) => {
  const { dir, closing } = await setup(t);
  const log = await DiskPartitionLog.open(dir, 't', 0, SMALL);
  for (let s = 0; s < 20; s += 2) await log.append(pbatch(1, 0, s));
  await log.close();
  const again = closing(await DiskPartitionLog.open(dir, 't', 0, SMALL)); // snapshot at offset 20
  assert.equal(await again.truncateTo(14), 14);
  const r = await again.append(pbatch(1, 0, 14));
  assert.deepEqual([r.baseOffset, r.duplicate], [14, undefined], 'stored again, not answered from the cut records');
  assert.equal((await again.append(pbatch(1, 0, 12))).duplicate, true, 'a batch below the cut is still remembered');
  // Crash (no close) after a second truncation: the snapshot must not describe the cut tail.
  assert.equal(await again.truncateTo(14), 14);
  const reopened = closing(await DiskPartitionLog.open(dir, 't', 0, SMALL));
  const r2 = await reopened.append(pbatch(1, 0, 14));
  assert.deepEqual([r2.baseOffset, r2.duplicate], [14, undefined]);
  assert.deepEqual((await values(reopened)).slice(-2), ['p1e0s14', 'p1e0s15']);
});

test('a follower records the leader\'s batches unchecked, so as the next leader it answers their retries as duplicates', async (t) => {
  const { dir, closing } = await setup(t);
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG));
  // What a leader stored: offsets stamped, and a sequence this log never saw start (no check).
  const leaderBytes = pbatch(5, 0, 40);
  leaderBytes.writeBigInt64BE(0n, 0);
  await log.append(leaderBytes, { asFollower: true });
  assert.deepEqual(await log.append(pbatch(5, 0, 40), { leaderEpoch: 1 }).then((r) => [r.baseOffset, r.duplicate]), [0, true]);
  assert.equal((await log.append(pbatch(5, 0, 42), { leaderEpoch: 1 })).baseOffset, 2);
});

test('producers idle longer than producerIdExpirationMs are forgotten when retention runs', async (t) => {
  const { dir, closing } = await setup(t);
  let now = 1_000_000;
  const ev = events();
  const log = closing(await DiskPartitionLog.open(dir, 't', 0, CFG, { now: () => now, producerIdExpirationMs: 60_000, logger: ev.logger }));
  await log.append(pbatch(1, 0, 0));
  now += 30_000;
  await log.append(pbatch(2, 0, 0));
  now += 40_000; // producer 1 idle 70 s, producer 2 idle 40 s
  await log.enforceRetention(now);
  assert.deepEqual(ev.seen.filter((e) => e.event === 'storage.producer-state.expired').map((e) => e.fields.producers), [1]);
  await assert.rejects(log.append(pbatch(1, 0, 2)), code('UNKNOWN_PRODUCER_ID'));
  assert.equal((await log.append(pbatch(2, 0, 2))).baseOffset, 4);
  assert.equal((await log.append(pbatch(1, 0, 0))).duplicate, undefined, 'a forgotten producer starts over at sequence 0');
});
