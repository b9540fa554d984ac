/**
 * The controller's automatic preferred-leader check, the decision (Kafka's
 * checkAndTriggerAutoLeaderRebalance): after a broker died and came back its partitions stay
 * led by the replicas that took over, so load piles up on the survivors. Per broker, the
 * partitions it is the preferred (first) replica of and does not lead, as a share of all it
 * is the preferred replica of, is its imbalance; above the threshold those partitions move
 * back, each only when `electPreferredLeader` allows it (the preferred replica live and in
 * the ISR, no reassignment running), at a new epoch. Pure: the timer and the writes are
 * auto-leader-rebalance.ts.
 */
import { electPreferredLeader, type PartitionState } from './partition-state.js';

export interface LeaderImbalance {
  /** Partitions not led by their preferred replica (Kafka's PreferredReplicaImbalanceCount). */
  imbalanced: number;
  /** Of those, the ones to move back now: their preferred broker is above the threshold and can lead them. */
  toElect: { topic: string; partition: number }[];
}

/**
 * `perBrokerPercentage`: a broker's imbalance must be above it (strictly, as in Kafka) for
 * its partitions to move; 0 moves any partition that can.
 */
export function leaderImbalance(
  states: readonly { topic: string; partition: number; state: PartitionState }[],
  live: ReadonlySet<number>,
  perBrokerPercentage: number,
): LeaderImbalance {
  const byPreferred = new Map<number, { total: number; elsewhere: { topic: string; partition: number; state: PartitionState }[] }>();
  for (const s of states) {
    const preferred = s.state.replicas[0];
    if (preferred === undefined) continue;
    let b = byPreferred.get(preferred);
    if (!b) byPreferred.set(preferred, (b = { total: 0, elsewhere: [] }));
    b.total++;
    if (s.state.leader !== preferred) b.elsewhere.push(s);
  }
  let imbalanced = 0;
  const toElect: { topic: string; partition: number }[] = [];
  for (const { total, elsewhere } of byPreferred.values()) {
    imbalanced += elsewhere.length;
    if (elsewhere.length * 100 <= perBrokerPercentage * total) continue;
    for (const s of elsewhere) if (electPreferredLeader(s.state, live).kind === 'elected') toElect.push({ topic: s.topic, partition: s.partition });
  }
  return { imbalanced, toElect };
}
