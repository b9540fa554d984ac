/**
 * Delayed operations, Kafka's "purgatory": a request that cannot be answered yet (a fetch
 * below minBytes, a share acquire with nothing available, later an acks=all produce waiting
 * for followers) waits here under keys, and whatever can change its outcome wakes those keys.
 * A waiting operation costs nothing until woken: no polling timer, one timer for its wait.
 *
 * The state machine, written once because each hand-rolled copy got the same race wrong:
 *  - `wake(key)` runs an attempt; attempts of one operation never overlap, and a wake that
 *    arrives during an attempt runs one more attempt after it (a wake is never lost).
 *  - The wait running out, or `finish(key)`, asks for a final attempt, which must answer. If
 *    an attempt is running at that moment, its result is the answer when it has one: after a
 *    stall a wake and the timer fire together, and that attempt may already have taken
 *    something (records locked to the worker) that an empty answer would strand.
 *  - A closed connection ends the wait without an attempt; the promise resolves to
 *    `undefined`, and the result of an attempt still running is handed to `discard`.
 *  - An attempt that throws rejects the wait.
 * Completion removes every watch, clears the timer and the close hook, exactly once.
 */

export interface DelayedOperation<T> {
  /**
   * One attempt at completing: the answer, or undefined to keep waiting. With `final` true
   * (the wait ran out or the broker is finishing) it must return an answer.
   */
  attempt(final: boolean): Promise<T | undefined>;
  /** An answer that will not be sent: give back what it holds (read buffers, locks). */
  discard?(answer: T): void;
}

/** What a watch needs of the request's connection (RequestScope fits). */
export interface CloseSignal {
  readonly closed: boolean;
  /** Runs `fn` when the connection closes; returns a function that unregisters it. */
  onClose(fn: () => void): () => void;
}

export interface WatchOptions {
  /** What can change the outcome: the operation is woken whenever one of these is. */
  readonly keys: readonly string[];
  /** How long to wait before the final attempt. */
  readonly timeoutMs: number;
  /** The requesting connection: its close ends the wait. */
  readonly scope?: CloseSignal;
}

interface Watcher {
  wake(): void;
  finish(): void;
}

export class Purgatory {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly all = new Set<Watcher>();

  /**
   * Parks `op` until an attempt answers, the wait runs out (final attempt) or the
   * connection closes (undefined). Call it after a first attempt found nothing: it does not
   * attempt at once.
   */
  watch<T>(op: DelayedOperation<T>, opts: WatchOptions): Promise<T | undefined> {
    if (opts.scope?.closed) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      let running = false;
      let again = false;
      let finalWanted = false;
      let done = false;
      const complete = (answer: T | undefined, err?: Error): void => {
        if (done) {
          if (answer !== undefined) op.discard?.(answer);
          return;
        }
        done = true;
        clearTimeout(timer);
        unClose?.();
        this.remove(watcher, opts.keys);
        if (err) reject(err);
        else resolve(answer);
      };
      const run = (final: boolean): void => {
        running = true;
        op.attempt(final).then((answer) => {
          running = false;
          if (done) {
            if (answer !== undefined) op.discard?.(answer);
            return;
          }
          if (answer !== undefined) return complete(answer);
          if (final) return complete(undefined, new Error('a final attempt of a delayed operation gave no answer'));
          if (finalWanted) return run(true);
          if (again) {
            again = false;
            run(false);
          }
        }, (err: unknown) => {
          running = false;
          complete(undefined, err instanceof Error ? err : new Error(String(err)));
        });
      };
      const watcher: Watcher = {
        wake: () => {
          if (done || finalWanted) return;
          if (running) again = true;
          else run(false);
        },
        finish: () => {
          if (done || finalWanted) return;
          finalWanted = true;
          if (!running) run(true);
        },
      };
      this.add(watcher, opts.keys);
      const timer = setTimeout(watcher.finish, opts.timeoutMs);
      // A closed connection cannot receive the answer: end the wait without an attempt.
      const unClose = opts.scope?.onClose(() => complete(undefined));
    });
  }

  /** Something that may complete the operations watching `key` happened. */
  wake(key: string): void {
    if (this.all.size === 0) return; // one size check per append when nobody waits
    const set = this.byKey.get(key);
    if (set) for (const w of [...set]) w.wake();
  }

  /** The operations watching `key` must answer now with what there is (e.g. topic deleted). */
  finish(key: string): void {
    const set = this.byKey.get(key);
    if (set) for (const w of [...set]) w.finish();
  }

  /** Every waiting operation answers now (broker shutdown). */
  finishAll(): void {
    for (const w of [...this.all]) w.finish();
  }

  /** Operations waiting now. */
  get size(): number {
    return this.all.size;
  }

  private add(w: Watcher, keys: readonly string[]): void {
    this.all.add(w);
    for (const k of keys) {
      let set = this.byKey.get(k);
      if (!set) this.byKey.set(k, (set = new Set()));
      set.add(w);
    }
  }

  private remove(w: Watcher, keys: readonly string[]): void {
    this.all.delete(w);
    for (const k of keys) {
      const set = this.byKey.get(k);
      if (!set) continue;
      set.delete(w);
      if (set.size === 0) this.byKey.delete(k);
    }
  }
}
