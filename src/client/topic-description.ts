/**
 * What `Admin.describeTopic` reports per partition: the answering broker's log figures
 * (DescribeTopics) and, in cluster mode, the partition's replication state (Metadata's
 * `partitionInfo`: leader, leader epoch, replicas, ISR). Pure, so the merge is tested on
 * made-up answers.
 */
import type { PartitionDescription, PartitionMetadata } from '../protocol/api.js';

export interface PartitionDetails extends PartitionDescription {
  /** Cluster mode only: node id of the leader, -1 while the partition is offline. */
  leader?: number;
  /** Cluster mode only: the leader epoch, raised at every leader change. */
  leaderEpoch?: number;
  /** Cluster mode only: node ids holding a replica, the preferred leader first. */
  replicas?: number[];
  /** Cluster mode only: the in-sync replicas. */
  isr?: number[];
  /** Cluster mode, while a reassignment runs: the replicas being added and removed (both in `replicas`). */
  addingReplicas?: number[];
  removingReplicas?: number[];
}

/**
 * In cluster mode the answering broker holds only the partitions placed on it: a partition
 * it holds no replica of gets -1 for every log figure (Kafka's "unknown"), so the listing
 * still names every partition with its leader. Without `info` (a single broker) the
 * partitions are returned as described, in partition order.
 */
export function withReplication(described: readonly PartitionDescription[], info: readonly PartitionMetadata[] | undefined): PartitionDetails[] {
  const byPartition = new Map<number, PartitionDetails>(described.map((p) => [p.partition, { ...p }]));
  for (const m of info ?? []) {
    const p = byPartition.get(m.partition) ?? { partition: m.partition, logStartOffset: -1, highWatermark: -1, sizeBytes: -1, segmentCount: -1 };
    const moving = m.addingReplicas !== undefined || m.removingReplicas !== undefined
      ? { addingReplicas: [...m.addingReplicas ?? []], removingReplicas: [...m.removingReplicas ?? []] } : {};
    byPartition.set(m.partition, { ...p, leader: m.leader, leaderEpoch: m.leaderEpoch, replicas: [...m.replicas], isr: [...m.isr], ...moving });
  }
  return [...byPartition.values()].sort((a, b) => a.partition - b.partition);
}
