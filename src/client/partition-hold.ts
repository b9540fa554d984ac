/**
 * Holds a partition's produce batches back while one of them waits to be retried, so that a
 * retry after a leader move goes out in the order the batches were first taken, ahead of
 * every later batch of that partition.
 *
 * When a batch fails with a retriable error (NOT_LEADER_OR_FOLLOWER after a failover, a
 * dropped connection), the batches of its partition that were sent after it are usually
 * failing too, a moment later, on the same dead or deposed leader. Resending the first one
 * as soon as its backoff ends could put it on the new leader after a later batch that had
 * not been sent yet, or before a batch still in flight whose failure is on its way. So:
 *
 *   - a held partition sends nothing new (`muted`; the producer's takeReady skips it);
 *   - every batch of it that fails joins the hold;
 *   - the hold ends only once its backoff passed, the metadata refresh it waits for settled,
 *     and no batch of the partition is still in flight; its batches then go back to the
 *     front of the producer's queue in the order they were first taken.
 *
 * Batches whose partition has no leader now (offline, or its leader's connection is down)
 * are held the same way, without counting an attempt.
 */
import { tpKey } from '../protocol/topic-partition.js';

interface Hold<B> {
  batches: B[];
  /** When the backoff ends (ms since epoch). */
  due: number;
  /** Refreshes the hold waits for. */
  waits: number;
  timer: NodeJS.Timeout | null;
}

export class PartitionHold<B extends { readonly topic: string; readonly partition: number }> {
  private readonly inFlight = new Map<string, number>();
  private readonly holds = new Map<string, Hold<B>>();
  private readonly order = new WeakMap<B, number>();
  private seq = 0;
  private heldCount = 0;

  /** `release` gets a partition's batches back, oldest first, when its hold ends. */
  constructor(private readonly release: (batches: B[]) => void) {}

  /** Batches held now (not sent, waiting for their retry). */
  get size(): number {
    return this.heldCount;
  }

  /** Whether `b`'s partition is held (its batches must not be sent now). For takeReady. */
  readonly muted = (b: B): boolean => this.holds.size > 0 && this.holds.has(tpKey(b.topic, b.partition));

  /** Records that `b` is about to be sent (or held): its place in its partition's order. */
  sent(b: B): void {
    if (!this.order.has(b)) this.order.set(b, ++this.seq);
    const k = tpKey(b.topic, b.partition);
    this.inFlight.set(k, (this.inFlight.get(k) ?? 0) + 1);
  }

  /** `b`'s request was answered or failed (after its outcome was decided: done or held). */
  settled(b: B): void {
    const k = tpKey(b.topic, b.partition);
    const n = (this.inFlight.get(k) ?? 1) - 1;
    if (n > 0) this.inFlight.set(k, n);
    else this.inFlight.delete(k);
    if (n <= 0) this.tryRelease(k);
  }

  /**
   * Holds `b` for at least `delayMs` and until `wait` (a metadata refresh) settles; its
   * partition sends nothing until the hold ends.
   */
  hold(b: B, delayMs: number, wait?: Promise<unknown>): void {
    if (!this.order.has(b)) this.order.set(b, ++this.seq);
    const k = tpKey(b.topic, b.partition);
    let h = this.holds.get(k);
    const due = Date.now() + delayMs;
    if (!h) {
      h = { batches: [], due, waits: 0, timer: null };
      this.holds.set(k, h);
    } else if (due > h.due) {
      h.due = due;
    }
    h.batches.push(b);
    this.heldCount++;
    if (wait) {
      const hh = h;
      hh.waits++;
      // Settled either way: a refresh that failed ends the hold too (the retry meets the error
      // again), and a rejection handled here is not an unhandled one.
      const done = (): void => {
        hh.waits--;
        this.tryRelease(k);
      };
      wait.then(done, done);
    }
    this.arm(k, h);
  }

  private arm(k: string, h: Hold<B>): void {
    if (h.timer) clearTimeout(h.timer);
    h.timer = setTimeout(() => {
      h.timer = null;
      this.tryRelease(k);
    }, Math.max(0, h.due - Date.now()));
  }

  private tryRelease(k: string): void {
    const h = this.holds.get(k);
    if (!h || h.waits > 0 || this.inFlight.has(k)) return;
    if (Date.now() < h.due) {
      if (!h.timer) this.arm(k, h);
      return;
    }
    if (h.timer) clearTimeout(h.timer);
    this.holds.delete(k);
    this.heldCount -= h.batches.length;
    const order = this.order;
    h.batches.sort((a, b) => order.get(a)! - order.get(b)!);
    this.release(h.batches);
  }

  /**
   * Takes the held batches `expired` picks out of their holds (the producer's delivery
   * timeout), whatever their holds wait for: a metadata refresh that never settles cannot
   * keep them. A hold left empty ends, unmuting its partition; the others keep waiting.
   */
  expire(expired: (b: B) => boolean): B[] {
    const out: B[] = [];
    for (const [k, h] of this.holds) {
      const keep = h.batches.filter((b) => !expired(b));
      if (keep.length === h.batches.length) continue;
      for (const b of h.batches) if (keep.indexOf(b) < 0) out.push(b);
      this.heldCount -= h.batches.length - keep.length;
      h.batches = keep;
      if (keep.length === 0) {
        if (h.timer) clearTimeout(h.timer);
        this.holds.delete(k);
      }
    }
    return out;
  }

  /** Calls `f` with every held batch (for the producer's next expiry check). */
  forEachHeld(f: (b: B) => void): void {
    for (const h of this.holds.values()) for (const b of h.batches) f(b);
  }

  /** Ends every hold at once (the producer is closing for good): returns the held batches. */
  drain(): B[] {
    const out: B[] = [];
    for (const h of this.holds.values()) {
      if (h.timer) clearTimeout(h.timer);
      out.push(...h.batches);
    }
    this.holds.clear();
    this.heldCount = 0;
    return out;
  }
}
