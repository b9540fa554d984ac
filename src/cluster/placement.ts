/**
 * Where a new topic's replicas go, as Kafka places them without racks
 * (AdminUtils.assignReplicasToBrokersRackUnaware): partition p's first replica (its preferred
 * leader) is broker (start + p) mod n, so leaders are spread evenly; the other replicas follow
 * the first at a shift that grows by one every n partitions, so the followers of one broker's
 * leaders are spread over the others too, and no two replicas of a partition share a broker.
 * `start` and the first shift are random by default so that topics created one after another
 * do not all lead on the same broker.
 */
import { SluiceError } from '../errors.js';

export class InvalidReplicationFactorError extends SluiceError {
  constructor(message: string) {
    super('INVALID_REPLICATION_FACTOR', message);
  }
}

export interface PlacementOptions {
  /** Index into the sorted broker list of partition 0's first replica (default random). */
  startIndex?: number;
  /** The first follower shift (default random). */
  replicaShift?: number;
  /** The first partition to place, when partitions are added to a topic (default 0). */
  firstPartition?: number;
}

/**
 * Replica lists for `partitions` partitions, first replica first. `brokers` are the live node
 * ids (any order; they are sorted so the result depends only on the set and the options).
 */
export function placeReplicas(brokers: readonly number[], partitions: number, replicationFactor: number, opts: PlacementOptions = {}): number[][] {
  const ids = [...new Set(brokers)].sort((a, b) => a - b);
  const n = ids.length;
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
    throw new InvalidReplicationFactorError(`replication factor must be a positive integer, got ${replicationFactor}`);
  }
  if (replicationFactor > n) {
    throw new InvalidReplicationFactorError(`replication factor ${replicationFactor} is larger than the ${n} live broker(s) (${ids.join(', ') || 'none'})`);
  }
  const startIndex = opts.startIndex ?? Math.floor(Math.random() * n);
  let shift = opts.replicaShift ?? Math.floor(Math.random() * n);
  const out: number[][] = [];
  for (let i = 0, p = opts.firstPartition ?? 0; i < partitions; i++, p++) {
    if (p > 0 && p % n === 0) shift++;
    const first = (p + startIndex) % n;
    const replicas = [ids[first]!];
    for (let j = 0; j < replicationFactor - 1; j++) {
      // 1 + (shift + j) mod (n - 1) is never 0 and never n: no follower lands on the first replica's broker.
      replicas.push(ids[(first + 1 + ((shift + j) % (n - 1))) % n]!);
    }
    out.push(replicas);
  }
  return out;
}
