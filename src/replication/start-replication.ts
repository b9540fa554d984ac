/**
 * The replica manager as the broker's cluster start-up builds it: partition states from the
 * cluster view, ISR writes by compare-and-swap in etcd, the self-fence from the etcd session,
 * minInsyncReplicas from the topic's config in etcd, and replication's metrics. The broker
 * hands in what it owns (its local logs, its follower, the wake-up of its delayed
 * operations); the caller sets `ctx.replicas` to the result and stops it before the follower
 * and the logs.
 */
import type { Etcd3 } from 'etcd3';
import type { ClusterView } from '../cluster/cluster-view.js';
import { casPartitionState } from '../cluster/partition-state-store.js';
import type { PartitionLog } from '../storage/types.js';
import type { ReplicationLogger } from './logger.js';
import type { HighWatermarkCheckpointer } from './high-watermark-checkpointer.js';
import { ReplicaManager, type FailsafeGate, type ReplicaRole, type ReplicationMetrics, type ReplicationStats } from './replica-manager.js';
import type { Follower } from './types.js';

export interface StartReplicationOptions {
  nodeId: number;
  client: Etcd3;
  view: ClusterView;
  /** ClusterNode.sessionTrusted (valid session, view caught up to its registration): false while this broker must not acknowledge writes. */
  sessionValid(): boolean;
  /** ReplicaManagerOptions.leadershipFenced: why this broker may lead nothing now (its broker epoch not handled by the controller yet). */
  leadershipFenced?(): string | undefined;
  /** Failsafe mode (cluster/failsafe.ts): writes without a trusted session, and the promises that hold new leaderships. */
  failsafe?: FailsafeGate;
  logs: { log(topic: string, partition: number): PartitionLog | undefined };
  follower: Follower;
  replicaLagTimeMs: number;
  /** Wakes what waits on the partition (the broker's purgatory: ctx.delayed.wakePartition). */
  onHighWatermark(topic: string, partition: number): void;
  /** BrokerMetrics fits: counters, and the scrape-time gauges of `stats()`. */
  metrics?: ReplicationMetrics & { collectReplication(fn: () => ReplicationStats): void };
  logger?: ReplicationLogger;
  /** ReplicaManagerOptions.onRoleChange: the broker's group coordinators follow it. */
  onRoleChange?: (topic: string, partition: number, role: ReplicaRole) => void;
  /** The data directory's high-watermark checkpoint: read into the manager's first roles, and started on its high watermarks. */
  checkpoint?: HighWatermarkCheckpointer;
}

/** Builds, starts and returns the manager; every partition state the view holds is applied. */
export function startReplication(o: StartReplicationOptions): ReplicaManager {
  const rm = new ReplicaManager({
    nodeId: o.nodeId,
    states: o.view,
    log: (t, p) => o.logs.log(t, p),
    follower: o.follower,
    writeIsr: (expected, next) => casPartitionState(o.client, expected, next),
    sessionValid: () => o.sessionValid(),
    ...(o.leadershipFenced ? { leadershipFenced: o.leadershipFenced } : {}),
    ...(o.failsafe ? { failsafe: o.failsafe } : {}),
    replicaLagTimeMs: o.replicaLagTimeMs,
    minInsyncReplicas: (topic) => minInsyncReplicasOf(o.view.topic(topic)?.config),
    onHighWatermark: (t, p) => { o.onHighWatermark(t, p); },
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.onRoleChange ? { onRoleChange: o.onRoleChange } : {}),
    ...(o.checkpoint ? { checkpointedHighWatermark: (t: string, p: number) => o.checkpoint!.take(t, p) } : {}),
  });
  o.metrics?.collectReplication(() => rm.stats());
  rm.start();
  o.checkpoint?.start(() => rm.highWatermarks());
  return rm;
}

/** A topic's minInsyncReplicas from its config in etcd; 1 when absent or not a positive integer. */
export function minInsyncReplicasOf(config: Record<string, unknown> | undefined): number {
  const v = config?.minInsyncReplicas;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1;
}
