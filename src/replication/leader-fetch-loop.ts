/**
 * The fetch loop for one leader broker (Kafka's ReplicaFetcherThread, one per source broker):
 * every partition this broker follows from that leader goes in one Fetch request, and the
 * answers are appended to the local logs as the leader stored them (`asFollower`).
 *
 * Each round:
 *   1. partitions that need it truncate by leader epoch (KIP-279): one OffsetsForLeaderEpoch
 *      request for all of them, `followerTruncation` decides, `truncateTo`; a decision that is
 *      not done asks again next round with the new latest epoch;
 *   2. the others are fetched from their local log end, a long poll of `maxWaitMs`;
 *   3. each partition's answer is appended, or its error handled (backoff for that partition
 *      alone; the leader's log start past ours empties the log and restarts it there).
 *
 * The next fetch offset is always the local log end, read when the request is built, and
 * storage refuses a follower append that does not start there: a batch is never appended
 * twice and never leaves a gap, whatever a dropped link or a retried request delivers.
 *
 * The loop keeps the link the factory gave it. A failed request (link dropped, timed out,
 * refused as a whole) backs the whole loop off, exponentially with jitter, and asks the link
 * factory again; nothing changes on the logs.
 */
import { Api } from '../protocol/api.js';
import type { EpochEndOffsetResult, FetchPartitionResult } from '../protocol/api.js';
import { errorName, type WireError } from '../protocol/errors.js';
import { tpKey } from '../protocol/topic-partition.js';
import { SluiceError } from '../errors.js';
import { UnexpectedAppendOffsetError } from '../storage/errors.js';
import { LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET } from '../storage/leader-epoch-cache.js';
import { followerTruncation, type TruncationDecision } from '../storage/follower-truncation.js';
import { BASE_OFFSET, BATCH_LENGTH, HEADER_SIZE, LAST_OFFSET_DELTA, LOG_OVERHEAD, readInt64 } from '../record/index.js';
import { backoffDelay } from './backoff.js';
import type { PartitionFetchState } from './partition-fetch-state.js';
import type { ReplicationLogger } from './logger.js';
import type { BrokerLink } from './types.js';
import type { ReplicationQuota } from './replication-quota.js';

/** What a loop needs from the fetcher that owns it (replica-fetcher.ts fills it from its options). */
export interface FetchLoopContext {
  readonly nodeId: number;
  readonly link: (leaderId: number) => Promise<BrokerLink>;
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly partitionMaxBytes: number;
  readonly requestTimeoutMs: number;
  readonly partitionBackoffMs: number;
  readonly linkBackoffMs: number;
  readonly backoffMaxMs: number;
  readonly logger: ReplicationLogger;
  readonly now: () => number;
  readonly random: () => number;
  lag(topic: string, partition: number, messages: number): void;
  fetchError(code: string): void;
  /** A storage error stopped the partition (already logged). */
  failed(state: PartitionFetchState, err: unknown): void;
  /** The reassignment throttle, shared by every leader's loop; none: unlimited. */
  readonly quota?: ReplicationQuota | undefined;
}

const noop = (): void => {};

/** Errors in a leader's answer that say the data, not the disk, was bad: fetch again after a backoff. */
const BAD_DATA = new Set(['CORRUPT_MESSAGE', 'INVALID_RECORD']);

export class LeaderFetchLoop {
  /** The partitions followed from this leader, by tpKey. */
  readonly partitions = new Map<string, PartitionFetchState>();
  /** Resolves when the loop has ended (stopped, or idle with no partition left). */
  readonly done: Promise<void>;
  private stopped = false;
  private stoppedNow!: () => void;
  /** Resolves (with undefined) when stop() is called. */
  private readonly stopping = new Promise<undefined>((resolve) => { this.stoppedNow = () => resolve(undefined); });
  private wake: (() => void) | null = null;
  private linkFailures = 0;
  /** The link this loop fetches over; null until the factory gave one, and after a request on it failed. */
  private link: BrokerLink | null = null;

  /** @param onIdle called (synchronously, as the loop ends) when no partition is left to fetch */
  constructor(readonly leaderId: number, private readonly ctx: FetchLoopContext, private readonly onIdle: (loop: LeaderFetchLoop) => void) {
    this.done = this.run();
  }

  add(state: PartitionFetchState): void {
    this.partitions.set(state.key, state);
    this.notify();
  }

  remove(state: PartitionFetchState): void {
    if (this.partitions.get(state.key) === state) this.partitions.delete(state.key);
    this.notify();
  }

  stop(): void {
    this.stopped = true;
    this.stoppedNow();
    this.notify();
  }

  /** Ends a wait between rounds early (a partition was added, removed, or unblocked). */
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async run(): Promise<void> {
    // Start on a later tick: the constructor's caller adds the first partition right after.
    await Promise.resolve();
    while (!this.stopped) {
      if (this.partitions.size === 0) {
        this.onIdle(this);
        return;
      }
      const now = this.ctx.now();
      const ready: PartitionFetchState[] = [];
      let next = Infinity;
      // Replicas being added by a reassignment sit out while the throttle is in debt.
      const throttledUntil = now + (this.ctx.quota?.delayMs() ?? 0);
      for (const s of this.partitions.values()) {
        if (!s.active) continue;
        const at = s.p.throttled === true ? Math.max(s.retryAt, throttledUntil) : s.retryAt;
        if (at <= now) ready.push(s);
        else next = Math.min(next, at);
      }
      if (ready.length === 0) {
        await this.sleep(next - now);
        continue;
      }
      let link = this.link;
      if (!link) {
        try {
          // stop() does not wait for a connect that may take its whole timeout; a link that
          // arrives after it is closed by the fetcher.
          const opening = this.ctx.link(this.leaderId);
          opening.catch(noop);
          const got = await Promise.race([opening, this.stopping]);
          if (got === undefined) break;
          link = got;
        } catch (err) {
          await this.linkFailed(err, 'connect');
          continue;
        }
        if (this.stopped) break;
        this.link = link;
      }
      try {
        // stop() does not wait for a long poll or a request to a leader that stopped answering
        // (the link may be shared and stay open): the states are retired by then, so what the
        // request brings back is never applied. Appends already running are awaited by stop().
        const round = this.round(link, ready);
        round.catch(noop);
        if (await Promise.race([round, this.stopping]) === undefined) break;
      } catch (err) {
        if (this.stopped) break;
        // Ask the factory again after the backoff: it reconnects, or hands back a link that did.
        this.link = null;
        await this.linkFailed(err, 'request');
        continue;
      }
      if (this.linkFailures > 0) this.ctx.logger.info('replication.link-recovered', { leaderId: this.leaderId, failures: this.linkFailures });
      this.linkFailures = 0;
    }
  }

  /** One round: truncation for the partitions that need it, then one Fetch for the others. */
  private async round(link: BrokerLink, ready: PartitionFetchState[]): Promise<'done'> {
    const truncating = ready.filter((s) => s.needsTruncation);
    if (truncating.length > 0) await this.truncate(link, truncating);
    if (this.stopped) return 'done';
    const fetching = ready.filter((s) => s.active && !s.needsTruncation);
    if (fetching.length > 0) await this.fetch(link, fetching);
    return 'done';
  }

  // --- truncation (KIP-279) --------------------------------------------------------------

  private async truncate(link: BrokerLink, states: PartitionFetchState[]): Promise<void> {
    const asking: PartitionFetchState[] = [];
    const work: Promise<void>[] = [];
    for (const s of states) {
      // No epoch to ask about (a log written before cluster mode, or empty): the decision
      // without an answer is the high watermark, as followerTruncation decides it.
      if (s.p.log.latestEpoch() === UNDEFINED_EPOCH) work.push(this.applyDecision(s, this.decide(s, { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET })));
      else asking.push(s);
    }
    if (asking.length > 0) {
      const res = await link.request(Api.OffsetsForLeaderEpoch, {
        replicaId: this.ctx.nodeId,
        partitions: asking.map((s) => ({ topic: s.p.topic, partition: s.p.partition, currentLeaderEpoch: s.p.leaderEpoch, leaderEpoch: s.p.log.latestEpoch() })),
      }, this.ctx.requestTimeoutMs);
      const byKey = new Map<string, EpochEndOffsetResult>();
      for (const r of res.partitions) byKey.set(tpKey(r.topic, r.partition), r);
      for (const s of asking) {
        if (!s.active) continue;
        const r = byKey.get(s.key);
        if (!r) this.partitionError(s, { code: -1, message: 'the leader did not answer for this partition' });
        else if (r.error && r.error.code !== 0) this.partitionError(s, r.error);
        else work.push(this.applyDecision(s, this.decide(s, { epoch: r.leaderEpoch, endOffset: r.endOffset })));
      }
    }
    await Promise.all(work);
  }

  private decide(s: PartitionFetchState, answer: { epoch: number; endOffset: number }): TruncationDecision {
    const log = s.p.log;
    // The high watermark this broker knows (carried over from the previous follow); unknown:
    // nothing of the log is known to be committed, so the fallback keeps nothing.
    const hw = s.leaderHighWatermark >= 0 ? Math.min(s.leaderHighWatermark, log.logEndOffset) : log.logStartOffset;
    return followerTruncation(answer, new LeaderEpochCache(log.leaderEpochs()), log.logEndOffset, Math.max(hw, log.logStartOffset));
  }

  private async applyDecision(s: PartitionFetchState, d: TruncationDecision): Promise<void> {
    const log = s.p.log;
    const from = log.logEndOffset;
    try {
      const ran = await s.onLog(() => (d.offset < log.logStartOffset ? log.truncateFullyAndStartAt(d.offset) : log.truncateTo(d.offset)));
      if (ran === undefined) return;
    } catch (err) {
      this.storageFailed(s, err, 'truncate');
      return;
    }
    if (d.done) s.needsTruncation = false;
    if (log.logEndOffset !== from) {
      this.ctx.logger.info('replication.truncated', {
        topic: s.p.topic, partition: s.p.partition, leaderId: this.leaderId, leaderEpoch: s.p.leaderEpoch, oldEndOffset: from, logEndOffset: log.logEndOffset, done: d.done,
      });
    }
  }

  // --- fetch ----------------------------------------------------------------------------

  private async fetch(link: BrokerLink, states: PartitionFetchState[]): Promise<void> {
    const offsets = states.map((s) => s.p.log.logEndOffset);
    const res = await link.request(Api.Fetch, {
      replicaId: this.ctx.nodeId,
      maxWaitMs: this.ctx.maxWaitMs,
      minBytes: 1,
      maxBytes: this.ctx.maxBytes,
      partitions: states.map((s, i) => ({
        topic: s.p.topic, partition: s.p.partition, offset: offsets[i], maxBytes: this.ctx.partitionMaxBytes, currentLeaderEpoch: s.p.leaderEpoch,
      })),
    }, this.ctx.maxWaitMs + this.ctx.requestTimeoutMs);
    const byKey = new Map<string, FetchPartitionResult>();
    for (const r of res.partitions) byKey.set(tpKey(r.topic, r.partition), r);
    // Partitions apart: one slow disk or failed log does not hold the others' appends.
    await Promise.all(states.map((s, i) => this.applyFetched(s, offsets[i], byKey.get(s.key))));
  }

  private async applyFetched(s: PartitionFetchState, offset: number, r: FetchPartitionResult | undefined): Promise<void> {
    // Retired or replaced while the request was out: the answer is for a follow that is over.
    if (!s.active) return;
    const log = s.p.log;
    if (!r) {
      this.partitionError(s, { code: -1, message: 'the leader did not answer for this partition' });
      return;
    }
    if (r.error && r.error.code !== 0) {
      if (errorName(r.error.code) === 'OFFSET_OUT_OF_RANGE') await this.outOfRange(s, offset, r);
      else this.partitionError(s, r.error);
      return;
    }
    s.leaderHighWatermark = r.highWatermark;
    let bytes = asBuffer(r.records);
    if (s.p.throttled === true) this.ctx.quota?.record(bytes.length);
    if (bytes.length > 0) {
      // The log end moves only here and in truncation, both awaited before the next request.
      if (log.logEndOffset !== offset) return;
      bytes = fromOffset(bytes, offset);
      if (bytes.length > 0) {
        try {
          await s.onLog(() => log.append(bytes, { asFollower: true }));
        } catch (err) {
          this.appendFailed(s, offset, bytes, err);
          return;
        }
      }
    }
    // Kafka's follower copy of the leader's log start (DeleteRecords, a coordinator
    // partition's snapshot: docs/cluster.md, "Coordinators"), up to what this replica holds.
    const start = Math.min(r.logStartOffset, log.logEndOffset);
    if (start > log.logStartOffset) {
      try {
        await s.onLog(() => log.advanceLogStartOffset(start));
      } catch (err) {
        this.storageFailed(s, err, 'advance log start');
        return;
      }
    }
    s.failures = 0;
    this.ctx.lag(s.p.topic, s.p.partition, Math.max(0, r.highWatermark - log.logEndOffset));
  }

  /** OFFSET_OUT_OF_RANGE on a replica fetch (Kafka's handleOutOfRangeError). */
  private async outOfRange(s: PartitionFetchState, offset: number, r: FetchPartitionResult): Promise<void> {
    const log = s.p.log;
    const leaderEnd = typeof r.error?.data?.logEndOffset === 'number' ? r.error.data.logEndOffset : undefined;
    this.ctx.fetchError('OFFSET_OUT_OF_RANGE');
    try {
      if (r.logStartOffset > offset) {
        // Retention on the leader passed our log end: nothing we hold can be continued.
        this.ctx.logger.warn('replication.restart-at-leader-start', {
          topic: s.p.topic, partition: s.p.partition, leaderId: this.leaderId, logEndOffset: offset, leaderLogStartOffset: r.logStartOffset,
        });
        await s.onLog(() => log.truncateFullyAndStartAt(r.logStartOffset));
        s.failures = 0;
        return;
      }
      if (leaderEnd !== undefined && leaderEnd < offset && leaderEnd >= log.logStartOffset) {
        // Our log is longer than the leader's (an unclean election made a shorter log the truth).
        this.ctx.logger.warn('replication.truncate-to-leader-end', {
          topic: s.p.topic, partition: s.p.partition, leaderId: this.leaderId, logEndOffset: offset, leaderLogEndOffset: leaderEnd,
        });
        await s.onLog(() => log.truncateTo(leaderEnd));
        s.failures = 0;
        return;
      }
    } catch (err) {
      this.storageFailed(s, err, 'truncate');
      return;
    }
    // In range again by now (the leader's log moved meanwhile), or nothing to go by: ask again later.
    this.backOff(s, 'OFFSET_OUT_OF_RANGE', r.error?.message ?? '');
  }

  private appendFailed(s: PartitionFetchState, offset: number, bytes: Buffer, err: unknown): void {
    if (err instanceof UnexpectedAppendOffsetError) {
      // The leader's batches do not continue our log (its log is not the one we truncated
      // against any more): truncate by epoch again before the next fetch.
      s.needsTruncation = true;
      this.ctx.fetchError('UNEXPECTED_OFFSET');
      this.backOff(s, 'UNEXPECTED_OFFSET', `${err.message}; first batch from the leader at ${readInt64(bytes, BASE_OFFSET)}, fetch offset ${offset}`);
      return;
    }
    if (err instanceof SluiceError && BAD_DATA.has(err.code)) {
      this.ctx.fetchError(err.code);
      this.backOff(s, err.code, err.message);
      return;
    }
    this.storageFailed(s, err, 'append');
  }

  private storageFailed(s: PartitionFetchState, err: unknown, what: string): void {
    if (!s.active) return; // retired meanwhile: the log is another follow's (or closed) now
    this.ctx.logger.error('replication.partition-failed', {
      topic: s.p.topic, partition: s.p.partition, leaderId: this.leaderId, operation: what, error: err instanceof Error ? err.message : String(err),
    });
    this.remove(s);
    this.ctx.failed(s, err);
  }

  private partitionError(s: PartitionFetchState, e: WireError): void {
    const code = errorName(e.code);
    this.ctx.fetchError(code);
    this.backOff(s, code, e.message);
  }

  private backOff(s: PartitionFetchState, code: string, message: string): void {
    s.failures++;
    const delay = backoffDelay(s.failures, this.ctx.partitionBackoffMs, this.ctx.backoffMaxMs, this.ctx.random);
    s.retryAt = this.ctx.now() + delay;
    const fields = { topic: s.p.topic, partition: s.p.partition, leaderId: this.leaderId, leaderEpoch: s.p.leaderEpoch, code, message, failures: s.failures, retryInMs: Math.round(delay) };
    if (s.failures === 1) this.ctx.logger.warn('replication.partition-error', fields);
    else this.ctx.logger.debug('replication.partition-error', fields);
  }

  // --- waiting --------------------------------------------------------------------------

  private async linkFailed(err: unknown, stage: string): Promise<void> {
    if (this.stopped) return;
    this.linkFailures++;
    const code = err instanceof SluiceError ? err.code : 'UNKNOWN_SERVER_ERROR';
    this.ctx.fetchError(code);
    const delay = backoffDelay(this.linkFailures, this.ctx.linkBackoffMs, this.ctx.backoffMaxMs, this.ctx.random);
    const fields = { leaderId: this.leaderId, stage, code, error: err instanceof Error ? err.message : String(err), failures: this.linkFailures, retryInMs: Math.round(delay) };
    if (this.linkFailures === 1) this.ctx.logger.warn('replication.link-failed', fields);
    else this.ctx.logger.debug('replication.link-failed', fields);
    // The whole delay, even when a partition is added meanwhile: a link that fails at once must not spin.
    const until = this.ctx.now() + delay;
    while (!this.stopped && this.ctx.now() < until) await this.sleep(until - this.ctx.now());
  }

  /** Waits `ms` (Infinity: until notified), or less when notified. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => { if (this.wake === done) this.wake = null; resolve(); }, Math.max(1, ms)) : null;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.wake = done;
    });
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The batches from the one that holds `offset` on; whole batches that end before it are
 * dropped (a leader answers with the batch holding the offset, which starts before it only
 * when the logs disagree, and then the append refuses it and truncation runs again).
 */
function fromOffset(bytes: Buffer, offset: number): Buffer {
  let at = 0;
  while (at + HEADER_SIZE <= bytes.length) {
    const last = readInt64(bytes, at + BASE_OFFSET) + bytes.readInt32BE(at + LAST_OFFSET_DELTA);
    if (last >= offset) break;
    at += bytes.readInt32BE(at + BATCH_LENGTH) + LOG_OVERHEAD;
  }
  return at === 0 ? bytes : bytes.subarray(at);
}
