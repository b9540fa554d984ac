/**
 * What a partition leader knows about its followers, and what follows from it (Kafka's
 * Partition/Replica state on the leader): each follower's log end offset (the offset of its
 * last fetch), the high watermark, who has fallen out of sync and who may rejoin.
 *
 * - The high watermark is the lowest log end offset over the ISR (leader included): every
 *   record below it is on every in-sync replica, so it survives any failover the controller
 *   may make (it elects only from the ISR). It never moves back on the leader.
 * - A follower is caught up at time T when it fetched, at T, from at or past the leader's log
 *   end as it was at its previous fetch (Kafka's lastCaughtUpTimeMs). One that has not been
 *   caught up for `replicaLagTimeMs` leaves the ISR, whether it is slow or silent.
 * - A follower outside the ISR may rejoin once its log end reaches the high watermark and the
 *   start of the current leader epoch (so it holds nothing a previous leader wrote that this
 *   one does not have).
 * - An acks=all produce up to offset O is done when the high watermark passes O while the ISR
 *   has at least minInsyncReplicas members; with fewer, it fails with NOT_ENOUGH_REPLICAS.
 *
 * Pure: times are passed in, and the ISR changes decided here take effect only when the
 * leader has written them to etcd and calls `setIsr`.
 */

interface FollowerProgress {
  logEndOffset: number;
  lastCaughtUpMs: number;
  /** The leader's log end and the time at this follower's previous fetch. */
  lastFetchLeaderLeo: number;
  lastFetchMs: number;
}

export type AcksAllState = 'waiting' | 'done' | 'not-enough-replicas';

export class LeaderReplicaState {
  private readonly followers = new Map<number, FollowerProgress>();
  private isrSet: Set<number>;
  private leaderLeo: number;
  private hw: number;
  /** The first offset of the current leader epoch: a rejoining follower must hold it. */
  private readonly epochStart: number;

  constructor(
    readonly leaderId: number,
    replicas: readonly number[],
    isr: readonly number[],
    opts: { nowMs: number; leaderLogEndOffset: number; highWatermark: number; leaderEpochStartOffset: number },
  ) {
    this.isrSet = new Set(isr);
    this.leaderLeo = opts.leaderLogEndOffset;
    this.hw = opts.highWatermark;
    this.epochStart = opts.leaderEpochStartOffset;
    // Kafka gives every follower a fresh lag clock when leadership starts: none is pushed out
    // of the ISR for time that passed before this broker led.
    for (const r of replicas) {
      if (r === leaderId) continue;
      this.followers.set(r, { logEndOffset: -1, lastCaughtUpMs: opts.nowMs, lastFetchLeaderLeo: -1, lastFetchMs: opts.nowMs });
    }
  }

  get highWatermark(): number {
    return this.hw;
  }

  /** The first offset of this leadership's epoch (the leader's log end when it was elected). */
  get leaderEpochStartOffset(): number {
    return this.epochStart;
  }

  /**
   * Whether the high watermark has not reached the start of this leader's epoch yet (Kafka's
   * KIP-207): it may then be below the one the previous leader (or this broker's previous life)
   * answered, because a new leader learns its followers' log ends only from their next fetches.
   * Everything the previous leader could have called committed is below the epoch start (this
   * leader was in its ISR), so once the high watermark passes it, nothing answered before is
   * above it.
   */
  get highWatermarkLagging(): boolean {
    return this.hw < this.epochStart;
  }

  /** The leader's own log end offset, as last reported to this state. */
  get leaderLogEndOffset(): number {
    return this.leaderLeo;
  }

  /** Each follower's log end offset as of its last fetch (-1 before its first), for lag reporting. */
  followerLogEndOffsets(): IterableIterator<[followerId: number, logEndOffset: number]> {
    return [...this.followers].map(([id, f]) => [id, f.logEndOffset] as [number, number]).values();
  }

  get isr(): readonly number[] {
    return [...this.isrSet];
  }

  /** The leader appended: its own log end moved. Returns whether the high watermark moved. */
  onLeaderAppend(logEndOffset: number): boolean {
    this.leaderLeo = logEndOffset;
    return this.advance();
  }

  /**
   * A follower fetched from `fetchOffset` at `nowMs` (so it holds everything below it). Returns
   * whether the high watermark moved, which wakes waiting acks=all produces.
   */
  onFollowerFetch(followerId: number, fetchOffset: number, nowMs: number): boolean {
    const f = this.followers.get(followerId);
    if (f === undefined) throw new Error(`broker ${followerId} is not a replica of this partition`);
    f.logEndOffset = fetchOffset;
    if (fetchOffset >= this.leaderLeo) f.lastCaughtUpMs = nowMs;
    else if (fetchOffset >= f.lastFetchLeaderLeo) f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, f.lastFetchMs);
    f.lastFetchLeaderLeo = this.leaderLeo;
    f.lastFetchMs = nowMs;
    return this.advance();
  }

  /** ISR members (never the leader) not caught up for longer than `replicaLagTimeMs`: to be removed. */
  laggingReplicas(nowMs: number, replicaLagTimeMs: number): number[] {
    const out: number[] = [];
    for (const id of this.isrSet) {
      const f = this.followers.get(id);
      if (f !== undefined && nowMs - f.lastCaughtUpMs > replicaLagTimeMs) out.push(id);
    }
    return out;
  }

  /** Followers outside the ISR that may rejoin it. */
  caughtUpReplicas(): number[] {
    const out: number[] = [];
    for (const [id, f] of this.followers) {
      if (!this.isrSet.has(id) && f.logEndOffset >= this.hw && f.logEndOffset >= this.epochStart) out.push(id);
    }
    return out;
  }

  /**
   * The replica set changed while this leadership lasts (a reassignment added or dropped
   * replicas): an added follower starts outside any lag (a fresh clock, log end unknown until
   * it fetches), a dropped one is forgotten. The ISR is changed by `setIsr`.
   */
  setReplicas(replicas: readonly number[], nowMs: number): void {
    for (const r of replicas) {
      if (r !== this.leaderId && !this.followers.has(r)) {
        this.followers.set(r, { logEndOffset: -1, lastCaughtUpMs: nowMs, lastFetchLeaderLeo: -1, lastFetchMs: nowMs });
      }
    }
    for (const id of [...this.followers.keys()]) if (!replicas.includes(id)) this.followers.delete(id);
  }

  /** The ISR as written to etcd. A shrink can move the high watermark up (a laggard no longer holds it back). */
  setIsr(isr: readonly number[]): boolean {
    if (!isr.includes(this.leaderId)) throw new Error(`the ISR must contain the leader ${this.leaderId}`);
    this.isrSet = new Set(isr);
    return this.advance();
  }

  /** Where an acks=all produce whose last record is at `lastOffset` stands. */
  acksAll(lastOffset: number, minInsyncReplicas: number): AcksAllState {
    if (this.isrSet.size < minInsyncReplicas) return 'not-enough-replicas';
    return this.hw > lastOffset ? 'done' : 'waiting';
  }

  private advance(): boolean {
    let min = this.leaderLeo;
    for (const id of this.isrSet) {
      if (id === this.leaderId) continue;
      const f = this.followers.get(id);
      min = Math.min(min, f === undefined ? -1 : f.logEndOffset);
    }
    if (min > this.hw) {
      this.hw = min;
      return true;
    }
    return false;
  }
}
