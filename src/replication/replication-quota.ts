/**
 * The follower-side replication throttle of a reassignment (Kafka's
 * follower.replication.throttled.rate, docs/cluster.md "Moving data between brokers"): the
 * bytes/s this broker fetches for replicas a reassignment is ADDING here. In-sync followers
 * are never throttled, so producers' acks=all answers do not wait on it.
 *
 * A bucket that holds no credit and may go into debt: a fetch answer's bytes are charged after
 * they arrive (the size is not known before), and throttled partitions are left out of the next
 * fetches until the debt is paid back. Over a move of B bytes the rate is therefore at most the
 * limit plus one answer (partitionMaxBytes) of burst: the move takes at least
 * (B - partitionMaxBytes) / limit seconds, which is what the test checks.
 */
export interface ThrottleStats {
  bytes: number;
  waitedMs: number;
}

export class ReplicationQuota {
  /** Bytes that may still be fetched now; negative while in debt. */
  private balance: number;
  private last: number;
  /** Bytes charged since start: fetched for replicas being added (sluice_replication_throttled_bytes_total). */
  private throttledBytes = 0;
  /**
   * Milliseconds the bucket was in debt since start, i.e. how long throttled replicas were held
   * back (sluice_replication_throttle_wait_seconds_total): bytes / wait is the rate they got.
   */
  private waitedMs = 0;

  /** @param bytesPerSec the limit (> 0) */
  constructor(readonly bytesPerSec: number, private readonly now: () => number = Date.now) {
    this.balance = 0;
    this.last = now();
  }

  /** Charges `bytes` fetched for throttled replicas. */
  record(bytes: number): void {
    this.refill();
    this.balance -= bytes;
    this.throttledBytes += bytes;
  }

  /** Milliseconds until throttled replicas may fetch again (0: now). */
  delayMs(): number {
    this.refill();
    return this.balance >= 0 ? 0 : Math.ceil((-this.balance * 1000) / this.bytesPerSec);
  }

  /** What the throttle did since start: bytes fetched under it, and milliseconds it held those replicas back (up to now). */
  stats(): ThrottleStats {
    this.refill();
    return { bytes: this.throttledBytes, waitedMs: this.waitedMs };
  }

  private refill(): void {
    const t = this.now();
    // The debt held replicas back until it was paid, or until now if it still is not.
    if (this.balance < 0) this.waitedMs += Math.min(t - this.last, (-this.balance * 1000) / this.bytesPerSec);
    // No credit builds up while idle: an idle minute does not buy a minute's worth at full speed.
    this.balance = Math.min(0, this.balance + ((t - this.last) * this.bytesPerSec) / 1000);
    this.last = t;
  }
}
