// The consumer's commit across a rebalance (chaos seed 204, commit-went-back): a commit
// refused as STALE_MEMBER_EPOCH is retried after a heartbeat, and the retry must carry the
// positions held at the new epoch, never the positions captured before the rebalance (of a
// partition given away meanwhile) under the new epoch. A fake coordinator behind GroupLink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, type ApiKey, type BodyOf, type ResponseOf } from '../../src/protocol/api.js';
import { BrokerError, errorCode } from '../../src/protocol/errors.js';
import { tpKey } from '../../src/protocol/topic-partition.js';
import type { GroupLink } from '../../src/client/coordinator-route.js';
import { GroupSession, type GroupPartitionControl } from '../../src/client/group-session.js';
import { groupOptions } from '../../src/client/group-options.js';
import { SILENT_LOGGER } from '../../src/client/logger.js';
import type { TopicPartition } from '../../src/client/types.js';
import type { SluiceError } from '../../src/errors.js';
import { GroupCoordinator } from '../../src/group/coordinator.js';
import { OffsetStore } from '../../src/group/offset-store.js';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';

type CommitBody = BodyOf<typeof Api.OffsetCommit>;

/**
 * A coordinator that answers heartbeats with `epoch`/`assignment`, records every commit and
 * keeps what it accepted (`stored`: what an OffsetFetch would answer).
 */
class FakeCoordinator implements GroupLink {
  epoch = 1;
  assignment = [0, 1];
  readonly commits: CommitBody[] = [];
  readonly stored = new Map<number, number>();
  /** Answers a commit: the error name, or undefined to accept. */
  onCommit: (body: CommitBody) => string | undefined = () => undefined;
  /** Answers a heartbeat: a whole-request error name, or undefined to answer `epoch`/`assignment`. */
  onHeartbeat: (body: BodyOf<typeof Api.ConsumerGroupHeartbeat>) => string | undefined = () => undefined;

  /** When set, the next commit's answer waits for this promise (a coordinator that stalls). */
  holdNextCommit: Promise<void> | undefined;

  async request<A extends ApiKey>(api: A, body: BodyOf<A>): Promise<ResponseOf<A>> {
    const answer = this.answer(api, body) as ResponseOf<A>;
    if (api === Api.OffsetCommit && this.holdNextCommit) {
      const hold = this.holdNextCommit;
      this.holdNextCommit = undefined;
      await hold;
    }
    return answer;
  }

  private answer(api: ApiKey, body: unknown): unknown {
    if (api === Api.ConsumerGroupHeartbeat) {
      const b = body as BodyOf<typeof Api.ConsumerGroupHeartbeat>;
      const err = this.onHeartbeat(b);
      if (err) throw new BrokerError(errorCode(err), err);
      return { id: 0, memberId: b.memberId, memberEpoch: this.epoch, heartbeatIntervalMs: 60_000, assignment: [{ topic: 't', partitions: this.assignment }] };
    }
    if (api === Api.OffsetFetch) {
      const b = body as BodyOf<typeof Api.OffsetFetch>;
      return { id: 0, partitions: (b.partitions ?? []).map((p) => ({ ...p, offset: this.stored.get(p.partition) ?? 0, metadata: '' })) };
    }
    if (api === Api.OffsetCommit) {
      const b = structuredClone(body as CommitBody);
      this.commits.push(b);
      const err = this.onCommit(b);
      if (!err) for (const p of b.partitions) this.stored.set(p.partition, p.offset);
      return { id: 0, partitions: b.partitions.map((p) => ({ topic: p.topic, partition: p.partition, ...(err ? { error: { code: errorCode(err), message: err } } : {}) })) };
    }
    throw new Error(`unexpected api ${api}`);
  }

  onPush(): () => void {
    return () => {};
  }
}

/** The consumer's fetching, reduced to positions by partition. */
class FakeControl implements GroupPartitionControl {
  readonly held = new Map<string, { topic: string; partition: number; offset: number }>();
  startFetching(starts: readonly { topic: string; partition: number; offset: number }[]): TopicPartition[] {
    for (const s of starts) this.held.set(tpKey(s.topic, s.partition), { ...s });
    return starts.map(({ topic, partition }) => ({ topic, partition }));
  }
  stopFetching(): void {}
  forget(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.held.delete(tpKey(tp.topic, tp.partition));
  }
  positions(tps?: readonly TopicPartition[]): { topic: string; partition: number; offset: number }[] {
    const all = [...this.held.values()].map((p) => ({ ...p }));
    return tps ? all.filter((p) => tps.some((tp) => tp.topic === p.topic && tp.partition === p.partition)) : all;
  }
  fail(err: Error): void {
    throw err;
  }
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type After = { after: (fn: () => unknown) => void };

/** A session of group 'g' without auto-commit on `link`, joined and holding `partitions` partitions of t. */
async function joinedOn(t: After, link: GroupLink, partitions: number): Promise<{ control: FakeControl; session: GroupSession }> {
  const control = new FakeControl();
  const session = new GroupSession(link, control, {
    g: groupOptions({ groupId: 'g', topics: ['t'], autoCommit: false }), autoOffsetReset: 'earliest', retryBackoffMs: 10, logger: SILENT_LOGGER,
  });
  t.after(() => session.close());
  session.join();
  await until(`${partitions} partitions held`, () => control.held.size === partitions);
  return { control, session };
}

/** A session without auto-commit that joined the fake coordinator and holds t/0 and t/1. */
async function joined(t: After): Promise<{ coord: FakeCoordinator; control: FakeControl; session: GroupSession }> {
  const coord = new FakeCoordinator();
  return { coord, ...await joinedOn(t, coord, 2) };
}

test('a commit refused as STALE_MEMBER_EPOCH is retried with the positions held at the new epoch, and fails for a partition given away meanwhile', async (t) => {
  const { coord, control, session } = await joined(t);
  control.held.get(tpKey('t', 0))!.offset = 10;
  control.held.get(tpKey('t', 1))!.offset = 20;

  // A rebalance races the commit: the coordinator moved the member to epoch 2 and gave t/1 to
  // another member, so the commit at epoch 1 is stale.
  coord.onCommit = (b) => (b.memberEpoch === 1 ? 'STALE_MEMBER_EPOCH' : undefined);
  coord.epoch = 2;
  coord.assignment = [0];
  // Resolving would tell the application that t/1 is committed at 20; the group holds nothing of it.
  await assert.rejects(session.commit(), (err: SluiceError) => err.code === 'STALE_MEMBER_EPOCH' && /t\/1/.test(err.message) && !/t\/0/.test(err.message));

  assert.equal(coord.commits.length, 2, 'the stale commit was retried once');
  const [first, retry] = coord.commits;
  assert.equal(first!.memberEpoch, 1);
  assert.deepEqual(first!.partitions.map((p) => [p.partition, p.offset]), [[0, 10], [1, 20]]);
  assert.equal(retry!.memberEpoch, 2);
  assert.deepEqual(retry!.partitions.map((p) => [p.partition, p.offset]), [[0, 10]],
    'the retry at epoch 2 carries only the positions held at epoch 2 (t/1 was given away)');
});

test('a stale commit of partitions held throughout the rebalance is retried with their positions and resolves', async (t) => {
  const { coord, control, session } = await joined(t);
  control.held.get(tpKey('t', 0))!.offset = 10;
  control.held.get(tpKey('t', 1))!.offset = 20;
  coord.onCommit = (b) => (b.memberEpoch === 1 ? 'STALE_MEMBER_EPOCH' : undefined);
  coord.epoch = 2;
  await session.commit([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
  assert.deepEqual(coord.commits.map((c) => c.memberEpoch), [1, 2]);
  assert.deepEqual([...coord.stored].sort(), [[0, 10], [1, 20]]);
});

// Chaos seed 34 (commit-went-back after a pause of the group coordinator): the member was
// fenced while its commit waited at the paused coordinator, rejoined and was granted its
// partitions again at the group's committed offsets; the commit, refused for its old epoch,
// was retried with those reset positions and resolved, so the application took its
// positions as committed while the group's offsets stayed behind them.
test('a stale commit whose partitions were lost and granted again meanwhile fails instead of committing the reset positions', async (t) => {
  const { coord, control, session } = await joined(t);
  control.held.get(tpKey('t', 0))!.offset = 10;
  control.held.get(tpKey('t', 1))!.offset = 20;
  coord.onCommit = (b) => (b.memberEpoch === 1 ? 'STALE_MEMBER_EPOCH' : undefined);
  let release!: () => void;
  coord.holdNextCommit = new Promise<void>((r) => { release = r; });
  const commit = session.commit([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
  await until('the commit sent', () => coord.commits.length === 1);

  // While the commit waits at the coordinator, the member is fenced, drops both partitions
  // and rejoins at epoch 3, granted both again at the committed offsets (nothing: 0).
  coord.onHeartbeat = (b) => (b.memberEpoch === 1 ? 'FENCED_MEMBER_EPOCH' : undefined);
  coord.epoch = 3;
  session.member.sendNow();
  await until('granted again at epoch 3', () => session.member.memberEpoch === 3 && control.held.size === 2);
  assert.equal(control.held.get(tpKey('t', 0))!.offset, 0);

  release();
  await assert.rejects(commit, (err: SluiceError) => err.code === 'STALE_MEMBER_EPOCH' && /t\/0/.test(err.message) && /t\/1/.test(err.message));
  assert.deepEqual(coord.commits.map((c) => c.memberEpoch), [1], 'nothing retried at epoch 3: the positions it would carry are not the ones asked for');
  assert.deepEqual([...coord.stored], []);
});

/**
 * A GroupLink to a real GroupCoordinator over an in-memory store, answering as the broker's
 * handlers do. `holdNextCommit` delays the next OffsetCommit before the coordinator sees it
 * (its first send was lost with a link and the route sends it again later); `holdNextAnswer`
 * delays the next one's answer after the coordinator applied it.
 */
class CoordinatorLink implements GroupLink {
  holdNextCommit: Promise<void> | undefined;
  holdNextAnswer: Promise<void> | undefined;
  sent = 0;
  constructor(readonly coord: GroupCoordinator) {}

  async request<A extends ApiKey>(api: A, body: BodyOf<A>): Promise<ResponseOf<A>> {
    if (api === Api.ConsumerGroupHeartbeat) {
      const b = body as BodyOf<typeof Api.ConsumerGroupHeartbeat>;
      return { id: 0, ...this.coord.heartbeat(b.groupId, b as Parameters<GroupCoordinator['heartbeat']>[1]) } as ResponseOf<A>;
    }
    if (api === Api.OffsetFetch) {
      const b = body as BodyOf<typeof Api.OffsetFetch>;
      return { id: 0, partitions: this.coord.fetchOffsets(b.groupId, b.partitions).map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset, metadata })) } as ResponseOf<A>;
    }
    if (api === Api.OffsetCommit) {
      const b = body as CommitBody;
      this.sent++;
      const [before, after] = [this.holdNextCommit, this.holdNextAnswer];
      this.holdNextCommit = this.holdNextAnswer = undefined;
      await before;
      const rs = await this.coord.commitOffsets(b.groupId, b.memberId, b.memberEpoch, b.partitions, b.commitSeq);
      await after;
      return { id: 0, partitions: rs.map((r) => ({ topic: r.topic, partition: r.partition, ...(r.error && { error: { code: errorCode(r.error.code), message: r.error.message } }) })) } as ResponseOf<A>;
    }
    throw new Error(`unexpected api ${api}`);
  }

  onPush(): () => void {
    return () => {};
  }
}

/** A session without auto-commit, the only member of group 'g' at a real coordinator, holding t/0. */
async function joinedReal(t: After): Promise<{ link: CoordinatorLink; control: FakeControl; session: GroupSession; committed: () => number }> {
  const clock = { now: () => Date.now() };
  const coord = new GroupCoordinator(await OffsetStore.open(new MemoryGenerationDir(), { clock }), { clock });
  coord.onTopicsChanged(new Map([['t', 1]]));
  const link = new CoordinatorLink(coord);
  return { link, ...await joinedOn(t, link, 1), committed: () => coord.fetchOffsets('g', [{ topic: 't', partition: 0 }])[0]!.offset };
}

test('two commits in flight at once: the earlier one reaching the coordinator last (resent after a move) does not move the committed offset back', async (t) => {
  const { link, control, session, committed } = await joinedReal(t);
  const position = control.held.get(tpKey('t', 0))!;
  position.offset = 10;
  let resend!: () => void;
  link.holdNextCommit = new Promise<void>((r) => { resend = r; });
  const earlier = session.commit(); // say the auto-commit: its link dropped, the route sends it again later
  await until('the earlier commit sent', () => link.sent === 1);
  position.offset = 20;
  await session.commit(); // an explicit commit, answered first
  assert.equal(committed(), 20);
  resend();
  await earlier; // resolves: the member's later commit stands for it
  assert.equal(committed(), 20, 'the commit captured first did not overwrite the one captured after it');
});

test('answers of two commits arriving in reverse order: the older answer does not hide the newer commit from the next auto-commit', async (t) => {
  const { link, control, session, committed } = await joinedReal(t);
  const position = control.held.get(tpKey('t', 0))!;
  position.offset = 10;
  let answer!: () => void;
  link.holdNextAnswer = new Promise<void>((r) => { answer = r; });
  const earlier = session.commit();
  await until('the earlier commit sent', () => link.sent === 1);
  position.offset = 20;
  await session.commit();
  answer();
  await earlier;
  assert.equal(committed(), 20);
  // The application seeks back to 10: the next commit of what moved must send it, though the
  // last answer to arrive was the one for 10.
  position.offset = 10;
  await session.commit();
  assert.equal(committed(), 10, 'the commit after the seek back was sent');
});
