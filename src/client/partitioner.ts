/**
 * Picks a partition for a record, as Kafka's default partitioner does:
 *  - an explicit partition wins;
 *  - a key goes to `toPositive(murmur2(keyBytes)) % numPartitions`, so equal keys stay
 *    on one partition for as long as the partition count does not change;
 *  - no key: "sticky" — every keyless record goes to the same partition until the batch
 *    for it is sent, then a different one is picked. Batches fill up instead of being
 *    spread one record per partition, which is what makes keyless produce cheap.
 */
import { murmur2, toPositive } from './murmur2.js';

export type Key = Uint8Array | string | null | undefined;

export function keyBytes(key: Uint8Array | string): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** Partition of a non-null key among `numPartitions`. */
export function partitionForKey(key: Uint8Array | string, numPartitions: number): number {
  return toPositive(murmur2(keyBytes(key))) % numPartitions;
}

export class StickyPartitioner {
  // topic -> current sticky partition
  private readonly sticky = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  /** The partition keyless records of `topic` go to now. */
  current(topic: string, numPartitions: number): number {
    let p = this.sticky.get(topic);
    if (p === undefined || p >= numPartitions) {
      p = Math.floor(this.random() * numPartitions);
      this.sticky.set(topic, p);
    }
    return p;
  }

  /**
   * Called when the batch for `prev` was closed: moves keyless records to another
   * partition (any other one, chosen at random, when there is more than one).
   */
  batchClosed(topic: string, prev: number, numPartitions: number): void {
    if (this.sticky.get(topic) !== prev) return;
    if (numPartitions <= 1) return;
    let p = Math.floor(this.random() * (numPartitions - 1));
    if (p >= prev) p++;
    this.sticky.set(topic, p);
  }
}
