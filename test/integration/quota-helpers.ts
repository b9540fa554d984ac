/** What the quota tests share: an admin call on a broker, and a client-side rate window. */
import { Admin } from '../../src/client/index.js';

export async function withAdmin<T>(url: string, fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = new Admin({ url });
  try {
    await a.connect();
    return await fn(a);
  } finally {
    await a.close();
  }
}

/**
 * Bytes counted between `warmupMs` and `warmupMs + windowMs` (since construction) by a loop
 * that calls count(bytes) as they arrive; `stopped` once the window is over.
 */
export class RateWindow {
  private readonly t0 = Date.now();
  private bytes = 0;
  /** ms since t0 of the first and the last count in the window, and the last one's bytes. */
  private firstAt = -1;
  private lastAt = -1;
  private lastBytes = 0;
  stopped = false;

  constructor(private readonly warmupMs: number, private readonly windowMs: number) {}

  count(n: number): void {
    const t = Date.now() - this.t0;
    if (t >= this.warmupMs && t < this.warmupMs + this.windowMs) {
      this.bytes += n;
      if (this.firstAt < 0) this.firstAt = t;
      this.lastAt = t;
      this.lastBytes = n;
    }
    if (t >= this.warmupMs + this.windowMs) this.stopped = true;
  }

  /** bytes per second over the window */
  get rate(): number {
    return this.bytes / (this.windowMs / 1000);
  }

  /**
   * bytes per second from the first count in the window to the last, the last one's bytes
   * left out (a throttle pays for an answer's bytes after it arrives): for answers as large as
   * a second's worth, a fixed window catches one more or one fewer of them (12 % of 8 s),
   * while the answers' own spacing is the rate the quota gives.
   */
  get spacedRate(): number {
    return this.lastAt > this.firstAt ? (this.bytes - this.lastBytes) / ((this.lastAt - this.firstAt) / 1000) : 0;
  }
}
