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
export class ReplicationQuota {
  /** Bytes that may still be fetched now; negative while in debt. */
  private balance: number;
  private last: number;

  /** @param bytesPerSec the limit (> 0) */
  constructor(readonly bytesPerSec: number, private readonly now: () => number = Date.now) {
    this.balance = 0;
    this.last = now();
  }

  /** Charges `bytes` fetched for throttled replicas. */
  record(bytes: number): void {
    this.refill();
    this.balance -= bytes;
  }

  /** Milliseconds until throttled replicas may fetch again (0: now). */
  delayMs(): number {
    this.refill();
    return this.balance >= 0 ? 0 : Math.ceil((-this.balance * 1000) / this.bytesPerSec);
  }

  private refill(): void {
    const t = this.now();
    // No credit builds up while idle: an idle minute does not buy a minute's worth at full speed.
    this.balance = Math.min(0, this.balance + ((t - this.last) * this.bytesPerSec) / 1000);
    this.last = t;
  }
}
