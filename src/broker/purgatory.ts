/**
 * Delayed operations, Kafka's "purgatory" (DelayedOperation / DelayedOperationPurgatory): a
 * request that cannot be answered yet waits here under keys, and whatever can change its
 * outcome wakes those keys. A waiting operation costs nothing until woken: no polling timer,
 * one timer for its wait. The users, and the keys they watch:
 *  - Fetch below minBytes (handle-fetch.ts): `partitionKey` of each partition, woken by
 *    appends, finished by the topic's deletion.
 *  - ShareAcquire with nothing to acquire (handle-share-acquire.ts): the partition keys of its
 *    topics, `shareGroupKey` (records released or a worker left) and SHARE_TICK_KEY (lock
 *    expiry and the end of a backoff free records by time alone; the share tick wakes it).
 *  - Cluster mode: an acks=all produce waiting for followers (Kafka's DelayedProduce,
 *    handle-produce.ts): `partitionKey`, woken when the high watermark moves or the
 *    partition's role changes, expiring with REQUEST_TIMED_OUT. There consumer fetches too
 *    are woken by high watermark moves, not appends; a replica fetch watches
 *    `replicaFetchKey`, woken by the leader's appends.
 *
 * The state machine, written once because each hand-rolled copy got the same race wrong:
 *  - `wake(key)` runs `tryComplete`; tries of one operation never overlap, and a wake that
 *    arrives during a try runs one more try after it (a wake is never lost).
 *  - The wait running out, `finish(key)` or `finishAll()` expire it: `onExpire` gives the
 *    answer with what there is. If a try is running at that moment, its answer wins when it
 *    has one: after a stall a wake and the timer fire together, and that try may already
 *    have taken something (records locked to a queue worker) that an empty answer would
 *    strand until their lock expired. Only when the try found nothing does `onExpire` run.
 *  - The requester's connection closing ends the wait without a try (Kafka's purgatory has
 *    no such case; a long poll here is tied to a connection): the promise resolves to
 *    `undefined`, and the answer of a try still running is handed to `discard`.
 *  - A try or an expiry that throws rejects the wait.
 * Completion removes every watch, clears the timer and the close hook, exactly once.
 */

export interface DelayedOperation<T> {
  /** Completes if it can: the answer, or undefined to keep waiting. Not called concurrently. */
  tryComplete(): Promise<T | undefined>;
  /** The wait is over (timed out, its key finished, the broker stopping): the answer with what there is. */
  onExpire(): T | Promise<T>;
  /** An answer that will not be sent (its connection closed): give back what it holds (read buffers, budget). */
  discard?(answer: T): void;
}

/** What a watch needs of the request's connection (RequestScope fits). */
export interface CloseSignal {
  readonly closed: boolean;
  /** Runs `fn` when the connection closes; returns a function that unregisters it. */
  onClose(fn: () => void): () => void;
}

export interface WatchOptions<K extends string> {
  /** What the operation is, as the `kind` label of sluice_delayed_operations. */
  readonly kind: K;
  /** What can change the outcome: the operation is woken whenever one of these is. */
  readonly keys: readonly string[];
  /** How long to wait before it expires. */
  readonly timeoutMs: number;
  /** The requesting connection: its close ends the wait. */
  readonly scope?: CloseSignal | undefined;
}

/** Appends to this partition may complete the operation (fetch, share acquire; later acks=all produce). */
export function partitionKey(topic: string, partition: number): string {
  return `p:${partition}:${topic}`;
}

/**
 * Cluster mode: the leader appended to this partition, which completes a parked replica
 * fetch (a follower at the log end). Consumer fetches and acks=all produces watch
 * `partitionKey`, which the leader wakes when the high watermark moves instead.
 */
export function replicaFetchKey(topic: string, partition: number): string {
  return `r:${partition}:${topic}`;
}

/** Records of this share group were released, or one of its workers left. */
export function shareGroupKey(groupId: string): string {
  return `share-group:${groupId}`;
}

/** The share tick: locks expired and backoffs ended, in any group. */
export const SHARE_TICK_KEY = 'share-tick';

interface Watcher {
  wake(): void;
  expire(): void;
}

export class Purgatory<K extends string = string> {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly all = new Set<Watcher>();
  private readonly counts = new Map<K, number>();

  /** `kinds` are the operations it will hold, so each is reported (at 0) before the first waits. */
  constructor(kinds: readonly K[] = []) {
    for (const k of kinds) this.counts.set(k, 0);
  }

  /**
   * Parks `op` until a try answers, it expires (onExpire's answer) or the connection closes
   * (undefined). Call it after a first try found nothing: it does not try at once.
   */
  watch<T>(op: DelayedOperation<T>, opts: WatchOptions<K>): Promise<T | undefined> {
    if (opts.scope?.closed) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      let running = false;
      let again = false;
      let expired = false;
      let done = false;
      const complete = (answer: T | undefined, err?: Error): void => {
        if (done) {
          if (answer !== undefined) op.discard?.(answer);
          return;
        }
        done = true;
        clearTimeout(timer);
        unClose?.();
        this.remove(watcher, opts);
        if (err) reject(err);
        else resolve(answer);
      };
      const fail = (err: unknown): void => {
        running = false;
        complete(undefined, err instanceof Error ? err : new Error(String(err)));
      };
      const expire = (): void => {
        running = true;
        let answered: Promise<T>;
        try {
          answered = Promise.resolve(op.onExpire());
        } catch (err) {
          return fail(err);
        }
        answered.then((answer) => {
          running = false;
          complete(answer);
        }, fail);
      };
      const tryComplete = (): void => {
        running = true;
        op.tryComplete().then((answer) => {
          running = false;
          if (done) {
            if (answer !== undefined) op.discard?.(answer);
            return;
          }
          if (answer !== undefined) return complete(answer);
          if (expired) return expire();
          if (again) {
            again = false;
            tryComplete();
          }
        }, fail);
      };
      const watcher: Watcher = {
        wake: () => {
          if (done || expired) return;
          if (running) again = true;
          else tryComplete();
        },
        expire: () => {
          if (done || expired) return;
          expired = true;
          if (!running) expire();
        },
      };
      this.add(watcher, opts);
      const timer = setTimeout(watcher.expire, opts.timeoutMs);
      // A closed connection cannot receive the answer: end the wait without a try.
      const unClose = opts.scope?.onClose(() => complete(undefined));
    });
  }

  /** Something that may complete the operations watching `key` happened. */
  wake(key: string): void {
    if (this.all.size === 0) return; // one size check per append when nobody waits
    const set = this.byKey.get(key);
    if (set) for (const w of [...set]) w.wake();
  }

  /** `wake(partitionKey(topic, partition))`, building no key when nobody waits: it runs once per append. */
  wakePartition(topic: string, partition: number): void {
    if (this.all.size !== 0) this.wake(partitionKey(topic, partition));
  }

  /** The operations watching `key` must answer now with what there is (e.g. topic deleted). */
  finish(key: string): void {
    const set = this.byKey.get(key);
    if (set) for (const w of [...set]) w.expire();
  }

  /** Every waiting operation answers now (broker shutdown). */
  finishAll(): void {
    for (const w of [...this.all]) w.expire();
  }

  /** Operations waiting now. */
  get size(): number {
    return this.all.size;
  }

  /** Operations waiting now, by kind: every kind given to the constructor or seen since. */
  sizes(): IterableIterator<[K, number]> {
    return this.counts.entries();
  }

  private add(w: Watcher, opts: WatchOptions<K>): void {
    this.all.add(w);
    this.counts.set(opts.kind, (this.counts.get(opts.kind) ?? 0) + 1);
    for (const k of opts.keys) {
      let set = this.byKey.get(k);
      if (!set) this.byKey.set(k, (set = new Set()));
      set.add(w);
    }
  }

  private remove(w: Watcher, opts: WatchOptions<K>): void {
    this.all.delete(w);
    this.counts.set(opts.kind, this.counts.get(opts.kind)! - 1);
    for (const k of opts.keys) {
      const set = this.byKey.get(k);
      if (!set) continue;
      set.delete(w);
      if (set.size === 0) this.byKey.delete(k);
    }
  }
}
