/**
 * ListPartitionReassignments (api 46), cluster mode: the running reassignments as this
 * broker's view of etcd shows them (any broker answers; the view follows every change in
 * order). Empty on a single broker.
 */
import type { Api, PartitionReassignment } from '../protocol/api.js';
import { isReassigning } from '../cluster/reassignment.js';
import type { Handler } from './handler.js';

export const handleListPartitionReassignments: Handler<typeof Api.ListPartitionReassignments> = async (ctx, req) => {
  const reassignments: PartitionReassignment[] = [];
  const wanted = req.topics === undefined ? undefined : new Set(req.topics);
  for (const s of ctx.cluster?.node.view.partitions() ?? []) {
    if (!isReassigning(s.state) || (wanted !== undefined && !wanted.has(s.topic))) continue;
    const st = s.state;
    reassignments.push({
      topic: s.topic, partition: s.partition, replicas: [...st.replicas], addingReplicas: [...st.addingReplicas ?? []],
      removingReplicas: [...st.removingReplicas ?? []], leader: st.leader, leaderEpoch: st.leaderEpoch, isr: [...st.isr],
    });
  }
  reassignments.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { id: req.id, reassignments };
};
