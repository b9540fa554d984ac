/**
 * Long-poll bookkeeping: which parked fetches care about which partition. An append calls
 * `notify(topic, partition)`, which wakes exactly the fetches parked on that partition, so
 * a waiting fetch costs nothing until data arrives (no polling timer). A fetch removes its
 * entries when it completes, times out, or its connection closes.
 */
export interface Waiter {
  /** New data may be readable; the waiter decides whether it now has enough. */
  wake(): void;
  /** The broker is shutting down or the topic went away: answer now with what there is. */
  finish(): void;
}

export class FetchWaiters {
  private readonly byPartition = new Map<string, Set<Waiter>>();
  private readonly all = new Set<Waiter>();

  static key(topic: string, partition: number): string {
    return `${partition}:${topic}`;
  }

  add(w: Waiter, keys: readonly string[]): void {
    this.all.add(w);
    for (const k of keys) {
      let set = this.byPartition.get(k);
      if (!set) this.byPartition.set(k, (set = new Set()));
      set.add(w);
    }
  }

  remove(w: Waiter, keys: readonly string[]): void {
    this.all.delete(w);
    for (const k of keys) {
      const set = this.byPartition.get(k);
      if (!set) continue;
      set.delete(w);
      if (set.size === 0) this.byPartition.delete(k);
    }
  }

  /** Cheap when nobody waits: one map lookup per append. */
  notify(topic: string, partition: number): void {
    if (this.all.size === 0) return;
    const set = this.byPartition.get(FetchWaiters.key(topic, partition));
    if (set) for (const w of [...set]) w.wake();
  }

  /** Wakes every waiter parked on any partition of `topic` (topic deleted). */
  finishTopic(topic: string): void {
    const suffix = `:${topic}`;
    for (const [k, set] of this.byPartition) if (k.endsWith(suffix) && k.indexOf(':') === k.length - suffix.length) for (const w of [...set]) w.finish();
  }

  finishAll(): void {
    for (const w of [...this.all]) w.finish();
  }

  get size(): number {
    return this.all.size;
  }
}
