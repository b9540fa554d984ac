/**
 * One follow of one partition: what the replica fetcher knows about it between fetches, and
 * the rule that keeps two follows of the same log apart.
 *
 * A `follow()` of a partition already followed retires the old state and makes a new one;
 * the new one is `blockedBy` the old one's work on the log (an append or a truncation that
 * was already running) and starts nothing until it settled. A retired state starts nothing
 * on the log again (`onLog` refuses), so once `settled()` resolves the log is free: that is
 * what `unfollow` waits for.
 */
import type { FollowedPartition } from './types.js';

const noop = (): void => {};

export class PartitionFetchState {
  /** Truncate by leader epoch before the next fetch: a new follow (new leader or epoch), or the leader's log stopped continuing ours. */
  needsTruncation = true;
  /** The leader's high watermark from its last answer; -1 while unknown. */
  leaderHighWatermark: number;
  /** No request for this partition before this time (the fetcher's clock, ms): backoff after an error. */
  retryAt = 0;
  /** Errors in a row (the backoff's exponent); 0 after a good answer. */
  failures = 0;
  /** Replaced by a newer follow, unfollowed, or the fetcher stopped: never touches the log again. */
  retired = false;
  /** Stopped after a storage error on its log (reported through onError); the manager decides what next. */
  failed = false;
  /** The previous follow's work on this log; nothing starts before it settled. */
  blockedBy: Promise<void> | null;
  /** The append or truncation running on the log, if any. */
  private inflight: Promise<unknown> | null = null;

  constructor(readonly p: FollowedPartition, readonly key: string, highWatermark: number, blockedBy: Promise<void> | null) {
    this.leaderHighWatermark = highWatermark;
    this.blockedBy = blockedBy;
  }

  /** May take part in the next request. */
  get active(): boolean {
    return !this.retired && !this.failed && this.blockedBy === null;
  }

  /**
   * Runs `op` (an append or truncation of this partition's log) unless the state was retired
   * or failed meanwhile; `undefined` when it did not run. Only one runs at a time per state:
   * the fetch loop awaits each before the next request for the partition.
   */
  async onLog<T>(op: () => Promise<T>): Promise<T | undefined> {
    if (this.retired || this.failed) return undefined;
    const running = op();
    this.inflight = running;
    try {
      return await running;
    } finally {
      if (this.inflight === running) this.inflight = null;
    }
  }

  /** Resolves once nothing of this state (or of the follow it replaced) runs on the log. Call after retiring it. */
  settled(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    if (this.inflight) waits.push(this.inflight.catch(noop));
    if (this.blockedBy) waits.push(this.blockedBy);
    return Promise.all(waits).then(noop);
  }
}
