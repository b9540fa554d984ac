/**
 * The follower side of replication (src/replication/replica-fetcher.ts) against in-process
 * fake leaders (fake-leader.ts: real leader logs behind BrokerLinks). After every scenario
 * the follower's log must hold the leader's batches byte for byte: nothing appended twice,
 * no gap, no tail the leader does not have.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from '../../src/protocol/api.js';
import type { BodyOf } from '../../src/protocol/api-table.js';
import { BATCH_LENGTH, LOG_OVERHEAD } from '../../src/record/index.js';
import { ReplicaFetcher, type ReplicaFetcherOptions } from '../../src/replication/replica-fetcher.js';
import type { ReplicationLogger } from '../../src/replication/logger.js';
import type { LogConfig, PartitionLog } from '../../src/storage/types.js';
import { StorageError } from '../../src/storage/errors.js';
import { FakeLeader, Replica } from './fake-leader.js';
import { tempDir } from '../storage/helpers.js';

const FOLLOWER = 9;

/** Every stored batch of a log, as its raw bytes, from its log start. */
async function rawBatches(log: PartitionLog): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let at = log.logStartOffset;
  while (at < log.logEndOffset) {
    const { bytes } = await log.read(at, 1 << 20);
    for (let p = 0; p < bytes.length;) {
      const len = bytes.readInt32BE(p + BATCH_LENGTH) + LOG_OVERHEAD;
      const b = Buffer.from(bytes.subarray(p, p + len));
      out.push(b);
      at = Number(b.readBigInt64BE(0)) + b.readInt32BE(23) + 1;
      p += len;
    }
  }
  return out;
}

async function assertIdentical(leader: Replica, follower: Replica): Promise<void> {
  assert.equal(follower.log.logStartOffset, leader.log.logStartOffset, 'same log start');
  assert.equal(follower.log.logEndOffset, leader.log.logEndOffset, 'same log end');
  const a = await rawBatches(leader.log);
  const b = await rawBatches(follower.log);
  assert.equal(b.length, a.length, 'same number of batches');
  for (let i = 0; i < a.length; i++) assert.deepEqual(b[i], a[i], `batch ${i} byte-identical`);
  assert.deepEqual(follower.log.leaderEpochs(), leader.log.leaderEpochs(), 'same leader-epoch cache');
}

/** Waits for a condition the test can observe (log ends, hook calls), polling; fails naming `what`. */
async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The follower has the leader's log end and epochs (a log end alone can match before a divergent tail was truncated). */
const caughtUp = (leader: Replica, follower: Replica) => () => follower.log.logEndOffset === leader.log.logEndOffset && leader.log.logEndOffset > 0
  && JSON.stringify(follower.log.leaderEpochs()) === JSON.stringify(leader.log.leaderEpochs());

interface Env {
  root: string;
  replicas: Replica[];
  leaders: Map<number, FakeLeader>;
  errors: string[];
  lag: Map<string, number>;
  failures: { topic: string; partition: number; err: unknown }[];
  events: { level: string; event: string; fields?: Record<string, unknown> | undefined }[];
  fetcher(opts?: Partial<ReplicaFetcherOptions>): ReplicaFetcher;
}

async function setup(t: TestContext): Promise<Env> {
  const { dir, cleanup } = await tempDir();
  const leaders = new Map<number, FakeLeader>();
  const fetchers: ReplicaFetcher[] = [];
  const env: Env = {
    root: dir, replicas: [], leaders, errors: [], lag: new Map(), failures: [], events: [],
    fetcher(opts = {}) {
      const logger: ReplicationLogger = {
        debug: (event, fields) => env.events.push({ level: 'debug', event, fields }),
        info: (event, fields) => env.events.push({ level: 'info', event, fields }),
        warn: (event, fields) => env.events.push({ level: 'warn', event, fields }),
        error: (event, fields) => env.events.push({ level: 'error', event, fields }),
      };
      const f = new ReplicaFetcher({
        nodeId: FOLLOWER,
        links: (id) => {
          const l = leaders.get(id);
          return l ? l.connect() : Promise.reject(new Error(`no broker ${id}`));
        },
        maxWaitMs: 100,
        partitionBackoffMs: 50,
        linkBackoffMs: 50,
        backoffMaxMs: 400,
        logger,
        metrics: {
          lag: (topic, partition, n) => env.lag.set(`${topic}/${partition}`, n),
          lagRemoved: (topic, partition) => env.lag.delete(`${topic}/${partition}`),
          fetchError: (code) => env.errors.push(code),
        },
        onError: (topic, partition, err) => env.failures.push({ topic, partition, err }),
        ...opts,
      });
      fetchers.push(f);
      return f;
    },
  };
  t.after(async () => {
    for (const f of fetchers) await f.stop();
    for (const r of env.replicas) await r.log.close().catch(() => {});
    await cleanup();
  });
  return env;
}

async function openReplica(env: Env, name: string, topic: string, partition: number, epoch = 0, config: Partial<LogConfig> = {}): Promise<Replica> {
  const r = await Replica.open(env.root, name, topic, partition, epoch, config);
  env.replicas.push(r);
  return r;
}

function leader(env: Env, nodeId: number): FakeLeader {
  const l = new FakeLeader(nodeId);
  env.leaders.set(nodeId, l);
  return l;
}

const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('a follower catches up over many segments and epochs, keeps up with appends made while it follows, and ends byte-identical', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 1));
  await lp.produce(values('x', 20), 0);
  await lp.produce(values('y', 20), 1);
  const fp = await openReplica(env, 'F', 't', 0);
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 1, log: fp.log });
  await until(caughtUp(lp, fp), 'the follower to catch up');
  await assertIdentical(lp, fp);
  // Appends during following arrive, in order, each once.
  for (let i = 0; i < 5; i++) await a.produce('t', 0, values(`z${i}-`, 3));
  await until(caughtUp(lp, fp), 'the appends made while following');
  await assertIdentical(lp, fp);
  assert.equal(fetcher.highWatermark('t', 0), lp.log.logEndOffset, 'the leader\'s high watermark (its log end here)');
  await until(() => env.lag.get('t/0') === 0, 'lag 0 reported');
  assert.equal(fetcher.highWatermark('t', 1), -1, 'unknown for a partition not followed');
  assert.deepEqual(env.errors, []);
  // The manager re-applying unchanged metadata: no new truncation round.
  const asked = a.epochQueriesOf('t', 0).length;
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 1, log: fp.log });
  await a.produce('t', 0, ['again']);
  await until(caughtUp(lp, fp), 'the append after the repeated follow');
  assert.equal(a.epochQueriesOf('t', 0).length, asked, 'no OffsetsForLeaderEpoch for a follow that changed nothing');
  await assertIdentical(lp, fp);
  assert.equal(a.openLinks(), 1);
  await fetcher.stop();
  assert.equal(a.openLinks(), 0, 'stop() closed the link');
});

test('every partition followed from one leader travels in one Fetch request, as a replica fetch at the leader epoch it believes in, from its log end', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const fetcher = env.fetcher();
  const followers: Replica[] = [];
  for (let p = 0; p < 3; p++) {
    const lr = a.add(await openReplica(env, 'A', 't', p, 2));
    await lr.produce(values(`p${p}-`, 5));
    const fr = await openReplica(env, 'F', 't', p);
    followers.push(fr);
    fetcher.follow({ topic: 't', partition: p, leaderId: 1, leaderEpoch: 2, log: fr.log });
  }
  for (let p = 0; p < 3; p++) await until(caughtUp(a.replica('t', p), followers[p]), `partition ${p} caught up`);
  const before = a.requests.length;
  await a.produce('t', 1, ['late']);
  await until(caughtUp(a.replica('t', 1), followers[1]), 'the late append');
  const fetches = a.requests.slice(before).filter((r) => r.api === Api.Fetch).map((r) => r.body as BodyOf<typeof Api.Fetch>);
  assert.ok(fetches.length > 0);
  for (const f of fetches) {
    assert.equal(f.replicaId, FOLLOWER);
    assert.equal(f.minBytes, 1);
    assert.equal(f.maxWaitMs, 100);
    assert.deepEqual(f.partitions.map((p) => p.partition).sort(), [0, 1, 2], 'all three partitions in each request');
    for (const p of f.partitions) assert.equal(p.currentLeaderEpoch, 2);
  }
  // One loop, one link: one connect for the leader.
  assert.equal(a.connects, 1);
  for (let p = 0; p < 3; p++) await assertIdentical(a.replica('t', p), followers[p]);
});

test('divergent tail: the follower\'s epoch-1 records the leader never got are truncated, and it ends with the leader\'s epoch-2 records', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  // Epoch 0: both have m0..m4 (the follower copied them by following).
  await lp.produce(values('m', 5), 0);
  const first = env.fetcher();
  first.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  await until(caughtUp(lp, fp), 'epoch 0 copied');
  await first.unfollow('t', 0);
  // The follower led epoch 1 for a while (its writes never reached A); A leads epoch 2.
  await fp.produce(values('f', 4), 1);
  lp.epoch = 2;
  await lp.produce(values('a', 3), 2);
  assert.deepEqual(lp.log.endOffsetForEpoch(1), { epoch: 0, endOffset: 5 });
  const second = env.fetcher();
  second.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 2, log: fp.log });
  await until(caughtUp(lp, fp), 'the follower to converge on the leader');
  await assertIdentical(lp, fp);
  assert.ok(env.events.some((e) => e.event === 'replication.truncated' && e.fields?.oldEndOffset === 9 && e.fields?.logEndOffset === 5), 'truncated 9 -> 5');
});

test('KIP-279: the leader answers with an epoch the follower never saw; two rounds of OffsetsForLeaderEpoch, then the logs are identical', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const la = a.add(await openReplica(env, 'A', 't', 0, 3));
  const fb = await openReplica(env, 'B', 't', 0);
  // The scenario of test/storage/follower-truncation.test.ts: m0, m1 at epoch 0 on both; m2 at
  // epoch 1 on A only; m3, m4 at epoch 2 on B only; A leads epoch 3 with m5.
  await la.produce(['m0', 'm1'], 0);
  const { bytes } = await la.log.read(0, 1 << 20);
  await fb.log.append(Buffer.from(bytes), { asFollower: true });
  await la.produce(['m2'], 1);
  await fb.produce(['m3', 'm4'], 2);
  await la.produce(['m5'], 3);
  assert.deepEqual(la.log.endOffsetForEpoch(2), { epoch: 1, endOffset: 3 });
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 3, log: fb.log });
  await until(caughtUp(la, fb), 'B to converge on A');
  await assertIdentical(la, fb);
  const asked = a.epochQueriesOf('t', 0).map((r) => (r.body as BodyOf<typeof Api.OffsetsForLeaderEpoch>).partitions[0].leaderEpoch);
  assert.deepEqual(asked, [2, 0], 'asked for its epoch 2, truncated to the end of its epoch 0, asked again for 0');
});

test('leader change mid-stream: unfollow the old leader, follow the new one at a higher epoch; the tail only the old leader had goes, and the other partitions of both leaders keep flowing', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const b = leader(env, 2);
  const ap = a.add(await openReplica(env, 'A', 't', 0, 0));
  const aq = a.add(await openReplica(env, 'A', 't', 1, 0));
  const br = b.add(await openReplica(env, 'B', 't', 2, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  const fq = await openReplica(env, 'F', 't', 1);
  const fr = await openReplica(env, 'F', 't', 2);
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  fetcher.follow({ topic: 't', partition: 1, leaderId: 1, leaderEpoch: 0, log: fq.log });
  fetcher.follow({ topic: 't', partition: 2, leaderId: 2, leaderEpoch: 0, log: fr.log });
  await a.produce('t', 0, values('p', 6));
  await a.produce('t', 1, values('q', 2));
  await b.produce('t', 2, values('r', 2));
  await until(caughtUp(ap, fp), 'p from A');
  // B, a replica of p too, has p's first 4 records; A's last 2 reached only F (acks=1). B takes over at epoch 1.
  const bp = b.add(await openReplica(env, 'B', 't', 0, 1));
  const keep = (await rawBatches(ap.log)).slice(0, 4);
  await bp.log.append(Buffer.concat(keep), { asFollower: true });
  await bp.produce(values('n', 3), 1);
  await fetcher.unfollow('t', 0);
  const fetchesOfP = a.fetchesOf('t', 0).length;
  fetcher.follow({ topic: 't', partition: 0, leaderId: 2, leaderEpoch: 1, log: fp.log });
  // Meanwhile both leaders' other partitions take writes.
  await a.produce('t', 1, values('q+', 3));
  await b.produce('t', 2, values('r+', 3));
  await until(caughtUp(bp, fp), 'p from B');
  await until(caughtUp(aq, fq), 'q from A');
  await until(caughtUp(br, fr), 'r from B');
  await assertIdentical(bp, fp);
  await assertIdentical(aq, fq);
  await assertIdentical(br, fr);
  assert.equal(a.fetchesOf('t', 0).length, fetchesOfP, 'no fetch of p from A after unfollow resolved');
  await b.produce('t', 0, ['after']);
  await until(caughtUp(bp, fp), 'later writes on the new leader');
  await assertIdentical(bp, fp);
});

test('follow() with a new leader replaces the old follow at once: an answer of the old leader that arrives later is not appended', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const b = leader(env, 2);
  const ap = a.add(await openReplica(env, 'A', 't', 0, 0));
  const aq = a.add(await openReplica(env, 'A', 't', 1, 0));
  const bp = b.add(await openReplica(env, 'B', 't', 0, 1));
  const fp = await openReplica(env, 'F', 't', 0);
  const fq = await openReplica(env, 'F', 't', 1);
  await ap.produce(values('a', 3), 0);
  await bp.log.append(Buffer.from((await ap.log.read(0, 1 << 20)).bytes), { asFollower: true });
  await bp.produce(values('b', 2), 1);
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  fetcher.follow({ topic: 't', partition: 1, leaderId: 1, leaderEpoch: 0, log: fq.log });
  await until(caughtUp(ap, fp), 'p from A');
  // A's next fetch (p and q, from 3) is held; meanwhile p moves to B.
  const n = a.requests.length;
  const release = a.holdRequests();
  await until(() => a.requests.length > n, 'a fetch held at A');
  // B answers the follower's epoch query (nothing to truncate: B's epoch 0 also ends at 3) and holds its fetch from 3.
  const releaseB = b.holdRequests(Api.Fetch);
  fetcher.follow({ topic: 't', partition: 0, leaderId: 2, leaderEpoch: 1, log: fp.log });
  await until(() => b.fetchesOf('t', 0).length > 0, 'a fetch held at B');
  // A takes a write only it has, and its held answer (read now) carries it at offset 3 for the old follow.
  await ap.produce(['stale'], 0);
  const m = a.requests.length;
  release();
  await until(() => a.requests.length > m, 'A\'s loop past its held answer (its next fetch, for q)');
  assert.equal(fp.log.logEndOffset, 3, 'A\'s answer to the replaced follow was not appended');
  releaseB();
  await until(caughtUp(bp, fp), 'p from B');
  await assertIdentical(bp, fp);
  assert.deepEqual(env.errors, [], 'the stale answer was dropped, not refused by storage');
  assert.equal(aq.log.logEndOffset, 0);
});

test('a dropped link: the answers lost on the way are fetched again from the log end; reconnects back off; no gap, no duplicate', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  await lp.produce(values('m', 10));
  // The first two answers with data are lost after the leader read them, and the next two connects are refused.
  a.dropFetchAnswers = 2;
  a.refuseConnects = 0;
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  await until(() => a.dropFetchAnswers === 0, 'two answers lost');
  await until(caughtUp(lp, fp), 'the follower to catch up after the drops');
  await assertIdentical(lp, fp);
  // Cut every link while a long poll is parked, and refuse the next connects.
  const connectsBefore = a.connects;
  a.refuseConnects = 3;
  a.dropLinks();
  await a.produce('t', 0, values('n', 5));
  await until(caughtUp(lp, fp), 'catch-up after reconnecting');
  await assertIdentical(lp, fp);
  assert.ok(a.connects >= connectsBefore + 4, `connected again after 3 refusals (${a.connects - connectsBefore} connects)`);
  assert.ok(env.errors.filter((c) => c === 'NETWORK_ERROR').length >= 5, `network errors counted: ${env.errors.join(',')}`);
  assert.ok(env.events.some((e) => e.event === 'replication.link-failed' && e.level === 'warn'));
  assert.ok(env.events.some((e) => e.event === 'replication.link-recovered'));
});

test('a leader that cannot be reached is retried with growing, jittered delays, never in a tight loop', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  a.add(await openReplica(env, 'A', 't', 0, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  a.refuseConnects = 1_000_000;
  const fetcher = env.fetcher({ linkBackoffMs: 40, backoffMaxMs: 320 });
  const started = Date.now();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  await until(() => a.connects >= 6, 'six connect attempts');
  // Delays are at least half their cap: 20 + 40 + 80 + 160 + 160 ms before the sixth attempt.
  assert.ok(Date.now() - started >= 460, `six attempts took ${Date.now() - started} ms`);
  await fetcher.stop();
  const elapsed = Date.now() - started;
  const n = a.connects;
  // Never closer than 20 ms apart (however long the machine stalled meanwhile): a tight loop makes thousands.
  assert.ok(n <= 1 + elapsed / 20, `${n} connects in ${elapsed} ms`);
});

test('NOT_LEADER_OR_FOLLOWER backs that partition off (a bounded number of requests), while the leader\'s other partitions keep flowing', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  a.add(await openReplica(env, 'A', 't', 0, 0));
  const lq = a.add(await openReplica(env, 'A', 't', 1, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  const fq = await openReplica(env, 'F', 't', 1);
  await a.produce('t', 0, ['p']);
  a.partitionErrors.set('t\u00000', 'NOT_LEADER_OR_FOLLOWER');
  const fetcher = env.fetcher({ partitionBackoffMs: 100, backoffMaxMs: 400 });
  const started = Date.now();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  fetcher.follow({ topic: 't', partition: 1, leaderId: 1, leaderEpoch: 0, log: fq.log });
  await a.produce('t', 1, values('q', 3));
  await until(caughtUp(lq, fq), 'q flows while p is refused');
  await until(() => env.errors.filter((c) => c === 'NOT_LEADER_OR_FOLLOWER').length >= 4, 'four refusals of p');
  const elapsed = Date.now() - started;
  const asked = a.requests.filter((r) => (r.body as BodyOf<typeof Api.Fetch>).partitions.some((p) => p.partition === 0)).length;
  // Each retry waits at least half its cap (50, 100, 200, 200 ms ...): far fewer requests than a loop would make.
  assert.ok(asked <= 2 + elapsed / 50, `${asked} requests for p in ${elapsed} ms`);
  assert.ok(elapsed >= 350, `four refusals spaced by backoffs took ${elapsed} ms`);
  assert.equal(fp.log.logEndOffset, 0, 'nothing appended for the refused partition');
  // The leader answers again: p catches up without a new follow().
  a.partitionErrors.delete('t\u00000');
  await until(caughtUp(a.replica('t', 0), fp), 'p after the refusals stop');
  await assertIdentical(a.replica('t', 0), fp);
});

test('OFFSET_OUT_OF_RANGE with the leader\'s log start past the follower\'s end: the follower restarts its log at the leader\'s log start', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 0, { retentionBytes: 1500 }));
  await lp.produce(values('old', 40));
  assert.ok(await lp.log.enforceRetention() > 0);
  assert.ok(lp.log.logStartOffset > 3);
  const fp = await openReplica(env, 'F', 't', 0);
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  await until(caughtUp(lp, fp), 'the follower restarted at the leader\'s log start and caught up');
  await assertIdentical(lp, fp);
  assert.ok(env.errors.includes('OFFSET_OUT_OF_RANGE'));
  assert.ok(env.events.some((e) => e.event === 'replication.restart-at-leader-start'));
});

/** A follower log whose appends can be held (to see what waits for them) or made to fail. */
function gatedLog(log: PartitionLog): { log: PartitionLog; appends: number; hold(): () => void; failWith: Error | null } {
  const ctl = {
    appends: 0,
    gate: null as Promise<void> | null,
    failWith: null as Error | null,
    hold(): () => void {
      let open!: () => void;
      ctl.gate = new Promise((r) => { open = r; });
      return () => { ctl.gate = null; open(); };
    },
    log: null as unknown as PartitionLog,
  };
  ctl.log = new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'append') {
        return async (buf: Buffer, opts: unknown) => {
          ctl.appends++;
          if (ctl.failWith) throw ctl.failWith;
          if (ctl.gate) await ctl.gate;
          return target.append(buf, opts as never);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return ctl;
}

test('unfollow resolves only once the append in flight for the partition is done, and nothing is appended after it', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  const gated = gatedLog(fp.log);
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: gated.log });
  await lp.produce(['one']);
  a.wake();
  await until(caughtUp(lp, fp), 'the first append');
  const open = gated.hold();
  const before = gated.appends;
  await a.produce('t', 0, ['two']);
  await until(() => gated.appends > before, 'an append in flight');
  let resolved = false;
  const unfollowed = fetcher.unfollow('t', 0).then(() => { resolved = true; });
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(resolved, false, 'unfollow waits for the held append');
  open();
  await unfollowed;
  assert.equal(fp.log.logEndOffset, 2, 'the append in flight completed');
  const appends = gated.appends;
  await a.produce('t', 0, ['three']);
  // Another follower of the same leader shows the leader answered fetches since; this one appended nothing more.
  const other = await openReplica(env, 'G', 't', 0);
  const f2 = env.fetcher();
  f2.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: other.log });
  await until(caughtUp(lp, other), 'a second follower');
  assert.equal(gated.appends, appends, 'no append after unfollow');
  assert.equal(fp.log.logEndOffset, 2);
});

test('a storage error on append stops that partition, is logged and reported through onError; the other partitions go on', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 0));
  const lq = a.add(await openReplica(env, 'A', 't', 1, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  const fq = await openReplica(env, 'F', 't', 1);
  const gated = gatedLog(fp.log);
  gated.failWith = new StorageError('disk full (injected)');
  await lp.produce(['p']);
  const fetcher = env.fetcher();
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: gated.log });
  fetcher.follow({ topic: 't', partition: 1, leaderId: 1, leaderEpoch: 0, log: fq.log });
  await until(() => env.failures.length > 0, 'onError');
  assert.equal(env.failures[0].topic, 't');
  assert.equal(env.failures[0].partition, 0);
  assert.ok(env.failures[0].err instanceof StorageError);
  assert.ok(env.events.some((e) => e.level === 'error' && e.event === 'replication.partition-failed' && e.fields?.partition === 0));
  const fetchesOfP = a.fetchesOf('t', 0).length;
  await a.produce('t', 1, values('q', 4));
  await a.produce('t', 0, ['p2']);
  await until(caughtUp(lq, fq), 'q goes on');
  assert.equal(a.fetchesOf('t', 0).length, fetchesOfP, 'the failed partition is not fetched any more');
  assert.equal(gated.appends, 1, 'one failed append, no retry loop');
  assert.equal(env.failures.length, 1);
  // The manager follows it again (say after reopening the log): it restarts.
  gated.failWith = null;
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: gated.log });
  await until(caughtUp(lp, fp), 'p after the follow that restarts it');
  await assertIdentical(lp, fp);
});

test('stop() ends the loops at once, even with a long poll parked on a link it leaves open (closeLinksOnStop: false) and a connect that never completes', async (t) => {
  const env = await setup(t);
  const a = leader(env, 1);
  const lp = a.add(await openReplica(env, 'A', 't', 0, 0));
  a.add(await openReplica(env, 'A', 't', 1, 0));
  const fp = await openReplica(env, 'F', 't', 0);
  const fq = await openReplica(env, 'F', 't', 1);
  await lp.produce(['m']);
  let hung = 0;
  const fetcher = env.fetcher({
    maxWaitMs: 60_000,
    closeLinksOnStop: false,
    links: (id) => {
      if (id === 1) return a.connect();
      hung++;
      return new Promise(() => {}); // broker 2: a connect that never completes
    },
  });
  fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log });
  fetcher.follow({ topic: 't', partition: 1, leaderId: 2, leaderEpoch: 0, log: fq.log });
  await until(caughtUp(lp, fp), 'p from A');
  await until(() => hung === 1 && a.fetchesOf('t', 0).length >= 2, 'a long poll parked at A and a connect hanging to broker 2');
  const stopped = fetcher.stop();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => { timer = setTimeout(() => r('late'), 10_000); });
  assert.equal(await Promise.race([stopped.then(() => 'stopped'), late]), 'stopped');
  clearTimeout(timer);
  assert.equal(a.openLinks(), 1, 'the shared link stays open');
  assert.throws(() => fetcher.follow({ topic: 't', partition: 0, leaderId: 1, leaderEpoch: 0, log: fp.log }), /stopped/);
  const requests = a.requests.length;
  await a.produce('t', 0, ['after stop']);
  await new Promise((r) => setImmediate(r));
  assert.equal(a.requests.length, requests, 'no request after stop');
});
