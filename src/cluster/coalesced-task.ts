/**
 * An async task that runs one at a time, with the kicks that arrive while it runs coalesced
 * into exactly one more run. For tasks that read the whole of some state from etcd (who is
 * controller, every partition's state): one read that starts after a burst of watch events
 * covers all of them, so a thousand events cost two reads, not a thousand, and two reads never
 * race to apply an older answer after a newer one.
 */
export class CoalescedTask {
  private running: Promise<void> | undefined;
  private again = false;

  /**
   * `run` handles its own errors; it resolves whether to go on: false drops the kicks that
   * arrived meanwhile (the caller lost the duty). `active` is asked before each run: a kick while it is false is
   * ignored.
   */
  constructor(private readonly run: () => Promise<boolean>, private readonly active: () => boolean) {}

  kick(): void {
    if (!this.active()) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        if (!(await this.run())) return;
      } while (this.again && this.active());
    })().finally(() => { this.running = undefined; });
  }

  /** Resolves when no run is in progress or queued. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }
}
