/**
 * The follower's truncation decision (follower-truncation.ts, KIP-101 / KIP-279): first the
 * cases of the pure function, then the scenarios of KIP-101 and KIP-279 played out on two
 * real partition logs in a temp dir. A "broker" here is one DiskPartitionLog; replication is
 * the follower reading the leader's stored bytes and appending them `asFollower`; a restart
 * is close() and open(). After the protocol both logs must be identical, byte for byte, and
 * every record acknowledged to a producer (acks=all: on every in-sync replica) must be there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { LeaderEpochCache } from '../../src/storage/leader-epoch-cache.js';
import { followerTruncation } from '../../src/storage/follower-truncation.js';
import { BATCH_LENGTH, LOG_OVERHEAD, readInt64, encodeBatch } from '../../src/record/index.js';
import { storedBatches, tempDir } from './helpers.js';

const cache = (...e: [number, number][]) => new LeaderEpochCache(e.map(([epoch, startOffset]) => ({ epoch, startOffset })));

test('decision: same epoch known on both sides -> the smaller end, done', () => {
  assert.deepEqual(followerTruncation({ epoch: 3, endOffset: 40 }, cache([1, 0], [3, 20]), 55, 10), { offset: 40, done: true });
  assert.deepEqual(followerTruncation({ epoch: 3, endOffset: 70 }, cache([1, 0], [3, 20]), 55, 10), { offset: 55, done: true }, 'never past the local end');
  // The leader's epoch 1 is known here and ends earlier here than there: the local end counts.
  assert.deepEqual(followerTruncation({ epoch: 1, endOffset: 25 }, cache([1, 0], [3, 20]), 55, 10), { offset: 20, done: true });
});

test('decision: the leader answers with an epoch the follower never saw -> the end of its largest epoch below, another round', () => {
  assert.deepEqual(followerTruncation({ epoch: 2, endOffset: 30 }, cache([1, 0], [3, 20]), 55, 10), { offset: 20, done: false });
});

test('decision: no usable epoch answer -> the high watermark (leader knows nothing) or the leader end (follower knows nothing)', () => {
  assert.deepEqual(followerTruncation({ epoch: -1, endOffset: -1 }, cache([1, 0]), 55, 10), { offset: 10, done: true });
  assert.deepEqual(followerTruncation({ epoch: 4, endOffset: 30 }, cache(), 55, 10), { offset: 30, done: true });
  assert.deepEqual(followerTruncation({ epoch: 0, endOffset: 5 }, cache([2, 3]), 55, 10), { offset: 3, done: true },
    'a leader epoch older than any local one (Kafka: the local answer is that epoch, ending where the first local epoch starts)');
  assert.deepEqual(followerTruncation({ epoch: -1, endOffset: 30 }, cache([1, 0]), 55, 10), { offset: 30, done: true });
});

// --- scenarios on real logs -------------------------------------------------------------

const CFG = effectiveConfig({ segmentBytes: 600, indexIntervalBytes: 200, retentionMs: -1 });

class Broker {
  constructor(readonly name: string, readonly dir: string, public log: DiskPartitionLog) {}

  static async start(root: string, name: string): Promise<Broker> {
    const dir = join(root, name);
    return new Broker(name, dir, await DiskPartitionLog.open(dir, 't', 0, CFG));
  }

  /** As leader of `epoch`, appends one message (value `m`) and returns its offset. */
  async produce(value: string, epoch: number): Promise<number> {
    const r = await this.log.append(encodeBatch([{ value, timestamp: 1_700_000_000_000 }], { now: 1_700_000_000_000 }), { leaderEpoch: epoch, durable: true });
    return r.baseOffset;
  }

  /** As follower: fetches the leader's batches from its own log end up to `upTo` and appends them unchanged. */
  async fetchFrom(leader: Broker, upTo = leader.log.logEndOffset): Promise<void> {
    while (this.log.logEndOffset < upTo) {
      const { bytes } = await leader.log.read(this.log.logEndOffset, 1 << 20);
      let end = 0;
      while (end < bytes.length && readInt64(bytes, end) < upTo) end += bytes.readInt32BE(end + BATCH_LENGTH) + LOG_OVERHEAD;
      await this.log.append(Buffer.from(bytes.subarray(0, end)), { asFollower: true });
    }
  }

  /** The KIP-279 loop before fetching from a new leader; returns the rounds it took. */
  async truncateByEpoch(leader: Broker, highWatermark: number): Promise<number> {
    for (let round = 1; ; round++) {
      const answer = leader.log.endOffsetForEpoch(this.log.latestEpoch());
      const d = followerTruncation(answer, new LeaderEpochCache(this.log.leaderEpochs()), this.log.logEndOffset, highWatermark);
      await this.log.truncateTo(d.offset);
      if (d.done) return round;
      assert.ok(round < 10, 'the rounds end');
    }
  }

  async restart(): Promise<void> {
    await this.log.close();
    this.log = await DiskPartitionLog.open(this.dir, 't', 0, CFG);
  }

  async values(): Promise<string[]> {
    return (await storedBatches(this.log)).flatMap((b) => b.values);
  }
}

async function assertIdentical(a: Broker, b: Broker): Promise<void> {
  assert.deepEqual((await a.log.read(0, 1 << 20)).bytes, (await b.log.read(0, 1 << 20)).bytes, `${a.name} and ${b.name} hold the same bytes`);
  assert.deepEqual(a.log.leaderEpochs(), b.log.leaderEpochs());
}

test('KIP-101 scenario 1: a follower that restarts keeps an acknowledged message its high watermark did not cover yet', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const a = await Broker.start(dir, 'A');
    const b = await Broker.start(dir, 'B');
    // Epoch 0, A leads. m1 and m2 reach B, so both are acknowledged for acks=all; B has not yet
    // learned the high watermark that covers m2 (it would on its next fetch): B's is 1.
    await a.produce('m1', 0);
    await b.fetchFrom(a);
    await a.produce('m2', 0);
    await b.fetchFrom(a);
    const bHighWatermark = 1;
    // B restarts. Truncating to its high watermark (the rule before KIP-101) would drop m2, and
    // if A then died m2 would be gone. B asks A for the end of its epoch instead.
    await b.restart();
    assert.equal(await b.truncateByEpoch(a, bHighWatermark), 1);
    assert.deepEqual(await b.values(), ['m1', 'm2'], 'nothing cut: A ends epoch 0 at 2');
    // A dies; B leads epoch 1 and takes m3. A comes back as a follower.
    await a.log.close();
    await b.produce('m3', 1);
    a.log = await DiskPartitionLog.open(a.dir, 't', 0, CFG);
    assert.equal(await a.truncateByEpoch(b, 2), 1);
    await a.fetchFrom(b);
    await assertIdentical(a, b);
    assert.deepEqual(await a.values(), ['m1', 'm2', 'm3']);
    assert.deepEqual(a.log.leaderEpochs(), [{ epoch: 0, startOffset: 0 }, { epoch: 1, startOffset: 2 }]);
    await a.log.close();
    await b.log.close();
  } finally {
    await cleanup();
  }
});

test('KIP-101 scenario 2: after both replicas fail, the old leader drops the message only it had instead of diverging', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const a = await Broker.start(dir, 'A');
    const b = await Broker.start(dir, 'B');
    // Epoch 0, A leads: m1 replicated (acknowledged); m2 written on A only (not acknowledged with acks=all).
    await a.produce('m1', 0);
    await b.fetchFrom(a);
    await a.produce('m2', 0);
    // Both fail. B comes back first, leads epoch 1, and takes m3 (acknowledged: B is the ISR) at offset 1: where A has m2.
    await a.log.close();
    await b.restart();
    assert.equal(await b.produce('m3', 1), 1);
    // A comes back as a follower. With a high watermark of 2 (it had seen m2 as committed in
    // its own view) the old rule kept m2 at offset 1 and the logs diverged for good.
    a.log = await DiskPartitionLog.open(a.dir, 't', 0, CFG);
    assert.deepEqual(b.log.endOffsetForEpoch(0), { epoch: 0, endOffset: 1 });
    assert.equal(await a.truncateByEpoch(b, 2), 1);
    assert.equal(a.log.logEndOffset, 1);
    await a.fetchFrom(b);
    await assertIdentical(a, b);
    assert.deepEqual(await a.values(), ['m1', 'm3']);
    await a.log.close();
    await b.log.close();
  } finally {
    await cleanup();
  }
});

test('KIP-279: after fast fail-overs the leader answers with an epoch the follower never saw; two rounds make the logs identical', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const a = await Broker.start(dir, 'A');
    const b = await Broker.start(dir, 'B');
    // Epoch 0, A leads: m0, m1 on both (acknowledged).
    await a.produce('m0', 0);
    await a.produce('m1', 0);
    await b.fetchFrom(a);
    // Epoch 1, A leads again (say its session blipped): m2 on A only.
    await a.produce('m2', 1);
    // A dies; B leads epoch 2 and takes m3, m4 with acks=1 (A is away).
    await a.log.close();
    await b.produce('m3', 2);
    await b.produce('m4', 2);
    // B dies before A followed it; A is back and leads epoch 3 at once: m5 (acknowledged).
    await b.log.close();
    a.log = await DiskPartitionLog.open(a.dir, 't', 0, CFG);
    await a.produce('m5', 3);
    // B comes back as A's follower, with a tail A never had, from an epoch A never knew.
    b.log = await DiskPartitionLog.open(b.dir, 't', 0, CFG);
    assert.deepEqual(a.log.endOffsetForEpoch(2), { epoch: 1, endOffset: 3 }, 'A answers with its epoch 1, which B never saw');
    assert.equal(await b.truncateByEpoch(a, 2), 2);
    assert.equal(b.log.logEndOffset, 2);
    await b.fetchFrom(a);
    await assertIdentical(a, b);
    const values = await b.values();
    assert.deepEqual(values, ['m0', 'm1', 'm2', 'm5']);
    // The acks=1 writes of the deposed leader are the ones that go (not guaranteed, as in Kafka).
    await a.log.close();
    await b.log.close();
  } finally {
    await cleanup();
  }
});

test('a follower many batches and segments behind and ahead converges on the leader\'s log', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const a = await Broker.start(dir, 'A');
    const b = await Broker.start(dir, 'B');
    for (let i = 0; i < 20; i++) await a.produce(`x${i}`, 0);
    await b.fetchFrom(a, 12);
    // B leads epoch 1 for a while (A away), writing over several segments; then A leads epoch 2.
    for (let i = 0; i < 25; i++) await b.produce(`b${i}`, 1);
    for (let i = 0; i < 5; i++) await a.produce(`a${i}`, 2);
    assert.equal(await b.truncateByEpoch(a, 12), 1);
    assert.equal(b.log.logEndOffset, 12);
    await b.fetchFrom(a);
    await assertIdentical(a, b);
    assert.deepEqual(await b.values(), [...Array.from({ length: 20 }, (_, i) => `x${i}`), ...Array.from({ length: 5 }, (_, i) => `a${i}`)]);
    await b.restart();
    await assertIdentical(a, b);
    await a.log.close();
    await b.log.close();
  } finally {
    await cleanup();
  }
});
