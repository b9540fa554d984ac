/**
 * What `sluice cluster status` reports, computed from what etcd holds: the brokers (registered
 * ones are alive; a replica's broker that is not registered is dead), the controller, and
 * the partitions that are offline (no leader, or a leader that is not alive) or under-replicated (ISR smaller than the
 * replica set, replicas being added by a reassignment aside), and the reassignments running, as `kafka-topics --describe --under-replicated-partitions` would list them.
 */
import type { Etcd3 } from 'etcd3';
import type { BrokerInfo } from './broker-registry.js';
import type { ClusterKeys } from './keys.js';
import { NO_LEADER } from './partition-state.js';
import { isReassigning, originReplicas, replicasNotInSync, targetReplicas } from './reassignment.js';
import { readAllPartitionStates, type StoredPartitionState } from './partition-state-store.js';

export interface ClusterStatus {
  brokers: { nodeId: number; url: string; alive: boolean }[];
  /** Node id of the controller, undefined when there is none. */
  controller: number | undefined;
  offline: StoredPartitionState[];
  underReplicated: StoredPartitionState[];
  /** Partitions being moved (docs/cluster.md, "Moving data between brokers"). */
  reassigning: ReassigningPartition[];
  partitions: number;
}

export interface ReassigningPartition {
  topic: string;
  partition: number;
  from: number[];
  to: number[];
  /** Target replicas not in the ISR yet: what the move waits for. */
  notInSync: number[];
}

export function summarize(live: ReadonlyMap<number, BrokerInfo>, states: readonly StoredPartitionState[], controller: number | undefined): ClusterStatus {
  const ids = new Set<number>(live.keys());
  for (const s of states) for (const r of s.state.replicas) ids.add(r);
  const brokers = [...ids].sort((a, b) => a - b).map((nodeId) => ({ nodeId, url: live.get(nodeId)?.url ?? '', alive: live.has(nodeId) }));
  // A leader that is not registered serves nobody: until the controller elects another
  // (within a TTL of its death) the partition is unavailable, as Kafka's
  // --unavailable-partitions counts it, not merely under-replicated.
  const leads = (s: StoredPartitionState) => s.state.leader !== NO_LEADER && live.has(s.state.leader);
  const byName = (a: StoredPartitionState, b: StoredPartitionState) => a.topic.localeCompare(b.topic) || a.partition - b.partition;
  return {
    brokers,
    controller,
    offline: states.filter((s) => !leads(s)).sort(byName),
    // A replica being added is not missing: it is catching up (Kafka leaves adding replicas out too).
    underReplicated: states.filter((s) => leads(s) && originReplicas(s.state).some((b) => !s.state.isr.includes(b))).sort(byName),
    reassigning: states.filter((s) => isReassigning(s.state)).sort(byName).map((s) => ({
      topic: s.topic, partition: s.partition, from: originReplicas(s.state), to: targetReplicas(s.state), notInSync: replicasNotInSync(s.state),
    })),
    partitions: states.length,
  };
}

/** Reads brokers, controller and partition states from etcd (no broker needs to be up). */
export async function readClusterStatus(client: Etcd3, keys: ClusterKeys): Promise<ClusterStatus> {
  const [brokers, ctl, parts] = await Promise.all([
    client.getAll().prefix(keys.brokersPrefix).exec(),
    client.getAll().prefix(keys.controllerPrefix).sort('Create', 'Ascend').limit(1).exec(),
    readAllPartitionStates(client, keys),
  ]);
  const live = new Map<number, BrokerInfo>();
  for (const kv of brokers.kvs) {
    try {
      const info = JSON.parse(kv.value.toString()) as BrokerInfo;
      live.set(info.nodeId, info);
    } catch {
      // not written by a broker: not a broker
    }
  }
  const c = ctl.kvs[0];
  return summarize(live, parts.states, c === undefined ? undefined : Number(c.value.toString()));
}
