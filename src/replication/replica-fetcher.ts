/**
 * The follower side of replication (docs/cluster.md, "Replication"): `ReplicaFetcher`
 * implements `Follower` (types.ts). The replica manager tells it which partitions to follow
 * from which leader at which epoch (`follow` / `unfollow`); it keeps one fetch loop per
 * leader broker (leader-fetch-loop.ts), so every partition followed from one leader travels
 * in one Fetch request, and the loops of different leaders never wait for each other.
 *
 * Moving a partition: `follow` with a new leader or epoch (or log) retires the old follow at once
 * (its loop ignores answers for it and starts nothing more on the log) and the new follow
 * starts once the old one's running append or truncation has settled, truncating by leader
 * epoch first. `unfollow` resolves once no append or truncation of the partition is in
 * flight, so the caller may make the log a leader's or close it. `follow` with what is already
 * followed (same leader, epoch and log) changes nothing; after a storage error it restarts.
 *
 * Metrics and the storage-failure report go through hooks handed in; the broker wires them
 * to prom-client and to the replica manager. Knows no sockets: links come from a LinkFactory.
 */
import { SluiceError } from '../errors.js';
import { tpKey } from '../protocol/topic-partition.js';
import { LeaderFetchLoop, type FetchLoopContext } from './leader-fetch-loop.js';
import { PartitionFetchState } from './partition-fetch-state.js';
import { ReplicationQuota, type ThrottleStats } from './replication-quota.js';
import { SILENT_REPLICATION_LOGGER, type ReplicationLogger } from './logger.js';
import type { BrokerLink, FollowedPartition, Follower, LinkFactory } from './types.js';

/** Metrics of the follower side, as hooks (the broker wires them to prom-client). */
export interface ReplicaFetcherMetrics {
  /** Messages a followed partition's log is behind the leader's high watermark, after each answer for it. */
  lag(topic: string, partition: number, messages: number): void;
  /** The partition is no longer followed here (unfollow, stop): drop its lag series. */
  lagRemoved(topic: string, partition: number): void;
  /**
   * One failed request or partition answer, by error code name: a wire error of a partition
   * (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, OFFSET_OUT_OF_RANGE, ...), a whole request
   * (NETWORK_ERROR, REQUEST_TIMED_OUT, ...), or UNEXPECTED_OFFSET (the leader's batches did
   * not continue the local log; truncation runs again).
   */
  fetchError(code: string): void;
}

export interface ReplicaFetcherOptions {
  /** This broker's node id: the `replicaId` of its replica fetches. */
  nodeId: number;
  links: LinkFactory;
  /** Long-poll wait of each Fetch. Default 500 ms. */
  maxWaitMs?: number;
  /** Cap of one Fetch answer. Default 16 MiB. */
  maxBytes?: number;
  /** Cap per partition in one answer (the first batch always comes whole). Default 1 MiB. */
  partitionMaxBytes?: number;
  /** Bytes/s for partitions followed with `throttled` (replicas a reassignment adds); 0 or absent: unlimited. */
  throttleBytesPerSec?: number;
  /** Request timeout beyond the long-poll wait. Default 30 s. */
  requestTimeoutMs?: number;
  /** First backoff of a partition after an error in its answer (Kafka's replica.fetch.backoff.ms). Default 1000 ms. */
  partitionBackoffMs?: number;
  /** First backoff of a leader's loop after a failed request or link. Default 200 ms. */
  linkBackoffMs?: number;
  /** Largest backoff of either, reached by doubling. Default 10 s. */
  backoffMaxMs?: number;
  /**
   * Close every link the factory handed over when stop() is called. Default true. Pass false
   * when the factory's links are shared and closed by their owner (the broker's BrokerLinks).
   */
  closeLinksOnStop?: boolean;
  logger?: ReplicationLogger;
  metrics?: ReplicaFetcherMetrics;
  /**
   * A storage error on a partition's log (append or truncation): the partition is no longer
   * fetched (it stays followed until `unfollow` or the next `follow`); already logged.
   */
  onError?: (topic: string, partition: number, err: unknown) => void;
  /** Clock for backoffs (ms). Default Date.now. */
  now?: () => number;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
}

const noop = (): void => {};

export class ReplicaFetcher implements Follower {
  private readonly states = new Map<string, PartitionFetchState>();
  private readonly loops = new Map<number, LeaderFetchLoop>();
  /** Every link a loop was handed; stop() closes them. */
  private readonly openLinks = new Set<BrokerLink>();
  private readonly ctx: FetchLoopContext;
  private readonly metrics: ReplicaFetcherMetrics | undefined;
  private readonly logger: ReplicationLogger;
  private stopped = false;

  constructor(private readonly opts: ReplicaFetcherOptions) {
    this.metrics = opts.metrics;
    this.logger = opts.logger ?? SILENT_REPLICATION_LOGGER;
    const metrics = opts.metrics;
    const onError = opts.onError ?? noop;
    this.ctx = {
      nodeId: opts.nodeId,
      link: async (leaderId) => {
        const link = await opts.links(leaderId);
        if (this.stopped) {
          // Opened while stop() was closing the others: no loop will use it.
          if (opts.closeLinksOnStop !== false) await link.close().catch(noop);
          throw new SluiceError('CLIENT_CLOSED', 'the replica fetcher is stopped');
        }
        this.openLinks.add(link);
        return link;
      },
      quota: opts.throttleBytesPerSec !== undefined && opts.throttleBytesPerSec > 0 ? new ReplicationQuota(opts.throttleBytesPerSec, opts.now) : undefined,
      maxWaitMs: opts.maxWaitMs ?? 500,
      maxBytes: opts.maxBytes ?? 16 * 1024 * 1024,
      partitionMaxBytes: opts.partitionMaxBytes ?? 1024 * 1024,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      partitionBackoffMs: opts.partitionBackoffMs ?? 1000,
      linkBackoffMs: opts.linkBackoffMs ?? 200,
      backoffMaxMs: opts.backoffMaxMs ?? 10_000,
      logger: this.logger,
      now: opts.now ?? Date.now,
      random: opts.random ?? Math.random,
      lag: metrics ? (t, p, n) => metrics.lag(t, p, n) : noop,
      fetchError: metrics ? (code) => metrics.fetchError(code) : noop,
      failed: (s, err) => {
        s.failed = true;
        try {
          onError(s.p.topic, s.p.partition, err);
        } catch (hookErr) {
          this.logger.error('replication.on-error-hook-failed', { topic: s.p.topic, partition: s.p.partition, error: String(hookErr) });
        }
      },
    };
  }

  /** The reassignment throttle's totals (replication-quota.ts); undefined when no throttle is set. */
  throttleStats(): ThrottleStats | undefined {
    return this.ctx.quota?.stats();
  }

  follow(p: FollowedPartition): void {
    if (this.stopped) throw new SluiceError('CLIENT_CLOSED', 'the replica fetcher is stopped');
    if (p.leaderId === this.opts.nodeId) throw new SluiceError('INVALID_ARGUMENT', `${p.topic}/${p.partition}: broker ${p.leaderId} cannot follow itself`);
    if (!Number.isInteger(p.leaderEpoch) || p.leaderEpoch < 0) throw new SluiceError('INVALID_ARGUMENT', `${p.topic}/${p.partition}: leader epoch ${p.leaderEpoch} is not an integer >= 0`);
    const key = tpKey(p.topic, p.partition);
    const old = this.states.get(key);
    // The same leader, epoch and log again (the manager re-applying unchanged metadata): keep
    // going without another truncation round. A failed follow is restarted.
    if (old && !old.failed && old.p.leaderId === p.leaderId && old.p.leaderEpoch === p.leaderEpoch && old.p.log === p.log) return;
    let blockedBy: Promise<void> | null = null;
    let hw = -1;
    if (old) {
      // The high watermark stays a lower bound of what is committed across leaders; the
      // truncation fallback of a log without epochs uses it.
      hw = old.leaderHighWatermark;
      this.retire(old);
      blockedBy = old.settled();
    }
    const state = new PartitionFetchState(p, key, Math.max(hw, p.highWatermark ?? -1), blockedBy);
    this.states.set(key, state);
    const loop = this.loopFor(p.leaderId);
    loop.add(state);
    if (blockedBy) {
      void blockedBy.then(() => {
        state.blockedBy = null;
        this.loops.get(state.p.leaderId)?.notify();
      });
    }
  }

  async unfollow(topic: string, partition: number): Promise<void> {
    const key = tpKey(topic, partition);
    const state = this.states.get(key);
    if (!state) return;
    this.states.delete(key);
    this.retire(state);
    this.metrics?.lagRemoved(topic, partition);
    await state.settled();
  }

  highWatermark(topic: string, partition: number): number {
    const s = this.states.get(tpKey(topic, partition));
    if (!s || s.leaderHighWatermark < 0) return -1;
    return Math.min(s.leaderHighWatermark, s.p.log.logEndOffset);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const states = [...this.states.values()];
    this.states.clear();
    for (const s of states) {
      this.retire(s);
      this.metrics?.lagRemoved(s.p.topic, s.p.partition);
    }
    const loops = [...this.loops.values()];
    for (const l of loops) l.stop();
    // The loops end without waiting for the requests in flight (leader-fetch-loop.ts).
    if (this.opts.closeLinksOnStop !== false) await Promise.allSettled([...this.openLinks].map((l) => l.close()));
    this.openLinks.clear();
    await Promise.all(loops.map((l) => l.done));
    await Promise.all(states.map((s) => s.settled()));
  }

  private retire(s: PartitionFetchState): void {
    s.retired = true;
    this.loops.get(s.p.leaderId)?.remove(s);
  }

  private loopFor(leaderId: number): LeaderFetchLoop {
    let loop = this.loops.get(leaderId);
    if (!loop) {
      loop = new LeaderFetchLoop(leaderId, this.ctx, (idle) => {
        if (this.loops.get(idle.leaderId) === idle) this.loops.delete(idle.leaderId);
      });
      this.loops.set(leaderId, loop);
    }
    return loop;
  }
}
