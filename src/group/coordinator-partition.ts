/**
 * Which coordinator partition a group belongs to (cluster mode, docs/cluster.md
 * "Coordinators"): Kafka's rule, abs(groupId.hashCode()) % partitions, with Java's String
 * hashCode (s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in 32-bit arithmetic) and
 * Kafka's Utils.abs (MIN_VALUE maps to 0). Every broker computes the same answer from the
 * partition count of the coordinator topic in etcd, so FindCoordinator agrees everywhere.
 */

/** Java's String.hashCode of `s` (a signed 32-bit integer). */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** The coordinator partition of `groupId` among `partitions` (>= 1). */
export function coordinatorPartition(groupId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`coordinator partitions must be a positive integer, got ${partitions}`);
  const h = javaStringHash(groupId);
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}

/**
 * Partitions of the coordinator topic when the cluster creates it. Afterwards the count in
 * etcd is what every broker hashes with (it never changes: a new count would move groups).
 */
export const COORDINATOR_PARTITIONS = 12;
