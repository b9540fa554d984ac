/**
 * A connection's requests in flight, by request id (client/connection.ts), in slots of an
 * array indexed by the id's low bits rather than in a Map.
 *
 * Why: the table lives as long as the connection, so it sits in the old generation, and each
 * request sets a young entry in it and deletes it about a millisecond later. In a Map, that
 * churn had the scavenger promote ~400 bytes per request into the old generation (the entry
 * with its promise callbacks), 50 MB per 100,000 produce requests, to be freed only by a full
 * collection; in array slots, 0.6 bytes (v8.GCProfiler, promoted bytes over the scavenges of
 * 50,000 produce requests with 32 in flight, against a real broker:
 * test/client/pending-requests.test.ts keeps it so). The same effect as the producer's
 * in-flight Map (test/client/producer-heap.test.ts).
 *
 * Ids are allocated in sequence (connection.ts), so the live ones span a window as wide as the
 * oldest request in flight is old, counted in requests; the table doubles until that window
 * fits (up to MAX_SLOTS), and an id whose slot is still held by a live one beyond that goes to
 * a Map. A slot keeps its id, so an answer to a request that timed out never matches a newer
 * request in the same slot.
 */

const FIRST_SLOTS = 64;
const MAX_SLOTS = 1 << 16;

export class PendingRequests<T> {
  private ids = new Uint32Array(FIRST_SLOTS);
  private vals: (T | undefined)[] = new Array<T | undefined>(FIRST_SLOTS).fill(undefined);
  private mask = FIRST_SLOTS - 1;
  /** Ids whose slot a live request held even at MAX_SLOTS (a request older than 65,536 later ones). */
  private overflow: Map<number, T> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const i = id & this.mask;
    if (this.vals[i] !== undefined && this.ids[i] === id) return this.vals[i];
    return this.overflow?.get(id);
  }

  /** Adds request `id` (ids are positive u32 and not in the table already). */
  set(id: number, v: T): void {
    for (;;) {
      const i = id & this.mask;
      if (this.vals[i] === undefined) {
        this.ids[i] = id;
        this.vals[i] = v;
        this.count++;
        return;
      }
      if (this.vals.length >= MAX_SLOTS) break;
      this.grow();
    }
    (this.overflow ??= new Map()).set(id, v);
    this.count++;
  }

  delete(id: number): boolean {
    const i = id & this.mask;
    if (this.vals[i] !== undefined && this.ids[i] === id) {
      this.vals[i] = undefined;
      this.count--;
      return true;
    }
    if (this.overflow?.delete(id) === true) {
      this.count--;
      return true;
    }
    return false;
  }

  /** Every request in flight as [id, value]; deleting the current one meanwhile is allowed. */
  *entries(): IterableIterator<[number, T]> {
    for (let i = 0; i < this.vals.length; i++) {
      const v = this.vals[i];
      if (v !== undefined) yield [this.ids[i]!, v];
    }
    if (this.overflow) for (const e of [...this.overflow]) yield e;
  }

  *values(): IterableIterator<T> {
    for (const [, v] of this.entries()) yield v;
  }

  private grow(): void {
    const ids = this.ids;
    const vals = this.vals;
    const n = vals.length * 2;
    this.ids = new Uint32Array(n);
    this.vals = new Array<T | undefined>(n).fill(undefined);
    this.mask = n - 1;
    // Two live ids sharing a slot of the old table differ in a bit the old mask left out, so
    // they never share one of the new table.
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v === undefined) continue;
      const id = ids[i]!;
      this.ids[id & this.mask] = id;
      this.vals[id & this.mask] = v;
    }
  }
}
