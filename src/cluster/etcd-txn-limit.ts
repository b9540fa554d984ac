/**
 * How many operations etcd takes in one transaction (its `--max-txn-ops`, 128 by default),
 * learned at start-up, since etcd 3.4 does not report its settings: the controller writes a
 * failover pass in transactions as large as that allows (controller.ts, PARTITIONS_PER_TXN),
 * topic creation its partitions in chunks (topic-admin.ts). With a lower limit each of those
 * transactions failed ("too many operations in txn request"), every pass that had more than a
 * handful of partitions to write with it; now they are cut to fit, and start-up says so.
 *
 * etcd checks the comparisons, the success operations and the failure operations of a
 * transaction separately against the limit, so a probe of `n` comparisons of a key nobody
 * writes (and no operations) tells whether `n` fits, writing nothing: one round trip when the
 * limit is the default or higher, a binary search below it.
 */
import type { Etcd3 } from 'etcd3';

/** etcd's default --max-txn-ops: what the controller's full batches need (PARTITIONS_PER_TXN + the epoch's comparison). */
export const WANTED_TXN_OPS = 128;

/**
 * The fewest the controller can work with: a partition's compare-and-swap fenced by the
 * controller epoch is two comparisons (topic creation: the topic record and one partition).
 */
export const MIN_TXN_OPS = 2;

/** etcd's refusal of a transaction over its limit (a gRPC INVALID_ARGUMENT with this text). */
export function isTooManyTxnOps(err: unknown): boolean {
  return err instanceof Error && err.message.includes('too many operations in txn request');
}

/**
 * The largest transaction, in operations, up to WANTED_TXN_OPS, that etcd accepts: WANTED_TXN_OPS
 * when it takes that many; 0 when it takes not even one. `probeKey` is never written (a key
 * under the cluster's root, which a broker's etcd role may read). Any other error is thrown.
 */
export async function etcdTxnOps(client: Etcd3, probeKey: string): Promise<number> {
  const fits = async (n: number): Promise<boolean> => {
    let cmp = client.if(probeKey, 'Create', '==', 0);
    for (let i = 1; i < n; i++) cmp = cmp.and(probeKey, 'Create', '==', 0);
    try {
      await cmp.commit();
      return true;
    } catch (err) {
      if (isTooManyTxnOps(err)) return false;
      throw err;
    }
  };
  if (await fits(WANTED_TXN_OPS)) return WANTED_TXN_OPS;
  let lo = 0; // fits (0 trivially)
  let hi = WANTED_TXN_OPS; // does not fit
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
