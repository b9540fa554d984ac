/**
 * The progress line of a long benchmark run, on stderr (stdout carries only the result, so
 * `--json` output stays parseable). One line every `everyMs`, rewritten in place on a
 * terminal, one per interval otherwise; nothing for runs shorter than one interval.
 */
export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private readonly t0 = performance.now();
  private lastDone = 0;
  private lastAt = this.t0;
  private wrote = false;

  constructor(private readonly label: string, private readonly total: number, private readonly done: () => number,
    private readonly enabled = true, everyMs = 2000) {
    if (enabled) {
      this.timer = setInterval(() => this.print(), everyMs);
      this.timer.unref();
    }
  }

  private print(): void {
    const now = performance.now();
    const done = this.done();
    const rate = ((done - this.lastDone) * 1000) / Math.max(1, now - this.lastAt);
    this.lastDone = done;
    this.lastAt = now;
    const pct = this.total > 0 ? ` (${((100 * done) / this.total).toFixed(0)}%)` : '';
    const line = `${this.label}: ${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')}${pct}, ` +
      `${Math.round(rate).toLocaleString('en-US')} msgs/s, ${((now - this.t0) / 1000).toFixed(1)} s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
    else process.stderr.write(`${line}\n`);
    this.wrote = true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.wrote && process.stderr.isTTY) process.stderr.write('\n');
  }
}
