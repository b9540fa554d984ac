/**
 * Slows password guessing (docs/security.md): each failed login from an address is answered
 * after a delay that doubles with the failures from that address (100 ms, 200 ms, ... up to
 * `authFailureDelayMaxMs`), and the broker closes the connection after it, so a guesser pays
 * a reconnect and the delay per try. A success from the address, or ten minutes without a
 * failure, forgets it. Keyed by IP address (not port: a guesser opens new connections), and
 * bounded: past MAX_ADDRESSES the oldest entry goes, so a flood of addresses costs memory once.
 */

const FIRST_DELAY_MS = 100;
const FORGET_AFTER_MS = 10 * 60_000;
const MAX_ADDRESSES = 10_000;

export class LoginDelay {
  /** Failures per address; insertion order is age order (an entry moves to the end when it fails again). */
  private readonly failures = new Map<string, { count: number; at: number }>();

  constructor(private readonly maxDelayMs: number, private readonly now: () => number = Date.now) {}

  /** Counts a failure from `address`; returns how long to wait before answering it. */
  failed(address: string): number {
    const t = this.now();
    const had = this.failures.get(address);
    const count = had !== undefined && t - had.at < FORGET_AFTER_MS ? had.count + 1 : 1;
    this.failures.delete(address);
    this.failures.set(address, { count, at: t });
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
    return Math.min(this.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(count - 1, 30));
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
