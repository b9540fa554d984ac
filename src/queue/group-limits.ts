/**
 * Group-wide limits of a share group (docs/queue.md, "Group-wide limits"): how many records
 * the whole group may be handed per second (`rateLimit`, a token bucket holding one second's
 * worth, full at start) and may hold at once (`maxInFlight`). Enforced by the coordinator on
 * every acquire, whatever the number of workers: an acquire gets at most what both allow.
 * 0 means no limit. Time is passed in (the coordinator's clock).
 */
import type { ShareGroupConfig } from './types.js';

export type LimitName = 'rate' | 'concurrency';

export class GroupLimits {
  private tokens = Infinity; // full: clamped to the bucket's size on first use
  private filledAt = 0;
  /** When the bucket holds a token again, after the rate limit held an acquire back; else Infinity. */
  private rateWakeAt = Infinity;

  /**
   * How many of `want` records may be handed out now, with `inFlight` records held by the
   * group, and which limit (if any) cut the number below `want`.
   */
  allowance(cfg: Readonly<ShareGroupConfig>, want: number, inFlight: number, now: number): { n: number; limitedBy?: LimitName } {
    let n = want;
    let limitedBy: LimitName | undefined;
    if (cfg.maxInFlight > 0 && n > cfg.maxInFlight - inFlight) {
      n = Math.max(0, cfg.maxInFlight - inFlight);
      limitedBy = 'concurrency';
    }
    if (cfg.rateLimit > 0) {
      this.refill(cfg.rateLimit, now);
      const whole = Math.floor(this.tokens);
      if (n > whole) {
        n = whole;
        limitedBy = 'rate';
        this.rateWakeAt = now + Math.ceil(((1 - (this.tokens - whole)) * 1000) / cfg.rateLimit);
      }
    }
    return limitedBy ? { n, limitedBy } : { n };
  }

  /** `n` records were handed out. */
  took(cfg: Readonly<ShareGroupConfig>, n: number): void {
    if (cfg.rateLimit > 0) this.tokens -= n;
  }

  /** `n` records handed out were taken back before the worker saw them (delayed jobs): their tokens return. */
  refund(cfg: Readonly<ShareGroupConfig>, n: number): void {
    if (cfg.rateLimit > 0) this.tokens = Math.min(cfg.rateLimit, this.tokens + n);
  }

  /** When parked acquires should look again because tokens came back (Infinity: nothing held back by the rate). */
  wakeAt(now: number): number {
    if (now >= this.rateWakeAt) this.rateWakeAt = Infinity;
    return this.rateWakeAt;
  }

  private refill(rate: number, now: number): void {
    const cap = rate; // one second's worth: a burst of at most `rate` records
    this.tokens = Math.min(cap, this.tokens + ((now - this.filledAt) * rate) / 1000);
    this.filledAt = now;
  }
}
