/**
 * The Consumer's group half: wires a GroupMember (heartbeats, assignment, fencing) to the
 * consumer's fetching through the narrow GroupPartitionControl, and keeps the commit
 * bookkeeping and the application's poll timing.
 *
 *   member grants partitions  -> read committed offsets -> control.startFetching(starts)
 *   member takes partitions   -> control.stopFetching, wait until the application is
 *                                between messages, commit, control.forget -> released
 *   member loses partitions   -> control.forget (no commit: the epoch is gone)
 *
 * A partition is released only once the application is between messages (it asked for the
 * next one or its handler returned), so a commit never covers a message still being
 * handled. If the application stays inside a handler for maxPollIntervalMs, the member
 * leaves the group (GroupMember's watchdog reads busyForMs) and rejoins on the next pull.
 */
import { Api, type OffsetCommitResponse, type OffsetFetchResponse } from '../protocol/api.js';
import { BrokerError } from '../protocol/errors.js';
import { parseTpKey, tpKey } from '../protocol/topic-partition.js';
import { SluiceError } from '../errors.js';
import type { GroupLink } from './coordinator-route.js';
import { errorText, type Logger } from './logger.js';
import { GroupMember } from './group-member.js';
import type { groupOptions } from './group-options.js';
import type { OffsetReset } from './partition-fetcher.js';
import type { TopicPartition } from './types.js';

/** What the group side may ask of the consumer's fetching. */
export interface GroupPartitionControl {
  /**
   * Start fetching these partitions: at `offset`, or per autoOffsetReset when it is -1.
   * Partitions already held are left alone; returns the ones added.
   */
  startFetching(starts: readonly { topic: string; partition: number; offset: number }[]): TopicPartition[];
  /** Stop fetching and delivering these now; their positions stay readable until forget(). */
  stopFetching(tps: readonly TopicPartition[]): void;
  /** Drop these partitions entirely. */
  forget(tps: readonly TopicPartition[]): void;
  /** Positions (next offset to deliver; -1 unknown) of these partitions if held, or of all held. */
  positions(tps?: readonly TopicPartition[]): { topic: string; partition: number; offset: number }[];
  /** Make the application's next pull throw `err`. */
  fail(err: Error): void;
}

export interface GroupSessionOptions {
  g: ReturnType<typeof groupOptions>;
  /** Forwarded from the consumer's options: undefined leaves the broker's default. */
  sessionTimeoutMs?: number | undefined;
  rebalanceTimeoutMs?: number | undefined;
  autoOffsetReset: OffsetReset;
  retryBackoffMs: number;
  logger: Logger;
}

export class GroupSession {
  readonly member: GroupMember;
  private readonly g: ReturnType<typeof groupOptions>;
  private commitTimer: NodeJS.Timeout | undefined;
  /** When the application got its current message or batch; 0 while it waits for the next. */
  private busySince = 0;
  private idleWaiters: (() => void)[] = [];
  /**
   * Last offset committed per partition, so auto-commit sends only what moved, with the
   * commit sequence it was sent under (0: read from the group at the grant): answers can
   * arrive out of order (a commit resent after a coordinator move), and an older one must not
   * replace a newer one here either.
   */
  private readonly committed = new Map<string, { offset: number; seq: number }>();
  /**
   * The commit sequence (OffsetCommit `commitSeq`), one per capture of positions: the
   * coordinator never lets an earlier capture overwrite a later one of this member, however
   * the two requests arrive (group/commit-order.ts). Never reset: one per member id.
   */
  private commitSeq = 0;
  /**
   * Per held partition, which grant it is held under (a counter): a commit retried across a
   * rebalance tells a partition held throughout from one lost (or given away) and granted
   * again, whose position restarted at the group's committed offset.
   */
  private readonly grants = new Map<string, number>();
  private grantCount = 0;
  private closing = false;

  constructor(private readonly conn: GroupLink, private readonly control: GroupPartitionControl, private readonly o: GroupSessionOptions) {
    this.g = o.g;
    this.member = new GroupMember(conn, {
      groupId: this.g.groupId, topics: this.g.topics, sessionTimeoutMs: o.sessionTimeoutMs, rebalanceTimeoutMs: o.rebalanceTimeoutMs,
      maxPollIntervalMs: this.g.maxPollIntervalMs, retryBackoffMs: o.retryBackoffMs, logger: o.logger,
    }, {
      assigned: (tps) => this.assigned(tps),
      revoked: (tps) => this.revoked(tps),
      lost: (tps) => this.forget(tps),
      busyForMs: () => (this.busySince ? Date.now() - this.busySince : 0),
      failed: (err) => this.control.fail(err),
    });
  }

  /** Joins (heartbeating on its own timer) unless already a member; starts auto-commit. */
  join(): void {
    if (this.closing || this.member.active) return;
    this.member.start();
    if (this.g.autoCommit && !this.commitTimer) {
      this.commitTimer = setInterval(() => {
        this.commit().catch((err: unknown) => this.o.logger.warn({ groupId: this.g.groupId }, `auto-commit failed: ${errorText(err)}`));
      }, this.g.autoCommitIntervalMs);
    }
  }

  /** The application got a message or batch and is handling it. */
  markBusy(): void {
    this.busySince = Date.now();
  }

  /** The application is between messages: it asked for the next one or its handler returned. */
  markIdle(): void {
    this.busySince = 0;
    for (const w of this.idleWaiters.splice(0)) w();
    this.member.polled();
  }

  /**
   * Commits positions (last delivered + 1) of the given partitions, or of every owned one
   * that moved since its last commit. Resolves when the broker has them durably. A commit
   * refused for a stale epoch (a rebalance raced it) is retried once after a heartbeat, with
   * the positions held at the new epoch: a commit carries the epoch at which its positions
   * were captured, so positions of a partition given away meanwhile are never sent under the
   * new epoch (they would overwrite its new owner's commit).
   *
   * It resolves only if every position it captured is committed, or a later one of the same
   * grant: a partition given away or lost before the retry (fenced, then granted again at
   * the group's committed offset) is left out of the retry and the commit rejects with
   * STALE_MEMBER_EPOCH naming it. Resolving would tell the application its positions are
   * committed while the group's offsets stay behind them (chaos seed 34: commit-went-back
   * after a pause of the group coordinator).
   */
  async commit(tps?: readonly TopicPartition[]): Promise<void> {
    /** The first attempt's partitions and the grant each was held under; a retry sends only those still held under it. */
    let captured: Map<string, number | undefined> | undefined;
    for (let attempt = 0; ; attempt++) {
      const memberEpoch = this.member.memberEpoch;
      const commitSeq = ++this.commitSeq;
      const first = captured === undefined;
      const sent = captured ?? new Map<string, number | undefined>();
      const partitions: { topic: string; partition: number; offset: number }[] = [];
      for (const p of this.control.positions(tps)) {
        if (p.offset < 0) continue;
        const k = tpKey(p.topic, p.partition);
        if (!first && (!sent.has(k) || sent.get(k) !== this.grants.get(k))) continue;
        if (!tps && this.committed.get(k)?.offset === p.offset) continue;
        partitions.push(p);
        if (first) sent.set(k, this.grants.get(k));
      }
      captured = sent;
      const lost = [...sent].filter(([k, grant]) => grant !== this.grants.get(k)).map(([k]) => parseTpKey(k));
      if (partitions.length > 0) {
        const res = await this.conn.request(Api.OffsetCommit, {
          groupId: this.g.groupId, memberId: this.member.memberId, memberEpoch, partitions, commitSeq,
        });
        const failed = res.partitions.find((p) => p.error && p.error.code !== 0);
        if (failed) {
          const e = new BrokerError(failed.error!.code, `commit to group '${this.g.groupId}' (${failed.topic}/${failed.partition}): ${failed.error!.message}`, failed.error!.data);
          if (e.code === 'STALE_MEMBER_EPOCH' && attempt === 0) {
            await this.member.nextResponse();
            continue;
          }
          throw e;
        }
        for (const p of partitions) {
          const k = tpKey(p.topic, p.partition);
          const known = this.committed.get(k);
          // Only while held under the grant it was captured in (forget() dropped the others), and not over a later commit's answer.
          if ((known === undefined || known.seq < commitSeq) && this.grants.has(k) && this.grants.get(k) === sent.get(k)) this.committed.set(k, { offset: p.offset, seq: commitSeq });
        }
      }
      if (lost.length > 0) {
        throw new SluiceError('STALE_MEMBER_EPOCH', `commit to group '${this.g.groupId}' refused for a stale member epoch, and ${lost.map((tp) => `${tp.topic}/${tp.partition}`).join(', ')} `
          + 'changed hands in the rebalance before it could be retried (given away, or lost and granted again at the committed offset): those positions were not committed');
      }
      return;
    }
  }

  private async assigned(tps: TopicPartition[]): Promise<void> {
    const res = await this.conn.request(Api.OffsetFetch, { groupId: this.g.groupId, partitions: tps });
    const starts: { topic: string; partition: number; offset: number }[] = [];
    for (const r of res.partitions) {
      if (r.offset >= 0 && !(r.error && r.error.code !== 0)) {
        starts.push({ topic: r.topic, partition: r.partition, offset: r.offset });
        continue;
      }
      if (this.o.autoOffsetReset === 'none') {
        this.control.fail(new SluiceError('NO_OFFSET', `group '${this.g.groupId}' has no committed offset for ${r.topic}/${r.partition} and autoOffsetReset is 'none'`));
        return;
      }
      starts.push({ topic: r.topic, partition: r.partition, offset: -1 });
    }
    for (const tp of this.control.startFetching(starts)) {
      const s = starts.find((x) => x.topic === tp.topic && x.partition === tp.partition)!;
      this.grants.set(tpKey(s.topic, s.partition), ++this.grantCount);
      this.committed.set(tpKey(s.topic, s.partition), { offset: s.offset, seq: 0 });
      if (s.offset < 0) this.o.logger.info({ groupId: this.g.groupId, topic: s.topic, partition: s.partition }, `group '${this.g.groupId}' has no committed offset for ${s.topic}/${s.partition}; starting at ${this.o.autoOffsetReset} (autoOffsetReset)`);
    }
    this.g.onPartitionsAssigned?.(tps);
  }

  private async revoked(tps: TopicPartition[]): Promise<void> {
    // Stop fetching and delivering them now; then wait until the application is between
    // messages, so the committed position covers only messages it has finished.
    this.control.stopFetching(tps);
    if (this.busySince) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.g.maxPollIntervalMs);
        this.idleWaiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    if (this.g.autoCommit) {
      await this.commit(tps).catch((err: unknown) => this.o.logger.warn({ groupId: this.g.groupId }, `commit before releasing partitions failed: ${errorText(err)}`));
    }
    this.forget(tps);
    this.g.onPartitionsRevoked?.(tps);
  }

  private forget(tps: readonly TopicPartition[]): void {
    this.control.forget(tps);
    for (const tp of tps) {
      this.committed.delete(tpKey(tp.topic, tp.partition));
      this.grants.delete(tpKey(tp.topic, tp.partition));
    }
  }

  /** With autoCommit, commits the positions as they stand (what close() commits); never rejects. */
  async commitHandled(): Promise<void> {
    if (this.g.autoCommit && this.member.active) await this.commit().catch((err: unknown) => this.o.logger.warn({ groupId: this.g.groupId }, `commit on close failed: ${errorText(err)}`));
  }

  /** Commits what was delivered (autoCommit), then leaves at once so the partitions move without waiting for the session timeout. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.commitTimer);
    await this.commitHandled();
    await this.member.leave();
  }
}
