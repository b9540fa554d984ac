/**
 * Starting a reassignment (src/cluster/reassignment.ts) on the controller: the target is
 * checked against the partition's state and the live brokers, then written into the
 * partition's key by compare-and-swap, fenced by the controller epoch. The controller's passes
 * (controller.ts) carry it on from there, this controller's or a successor's.
 */
import type { Etcd3 } from 'etcd3';
import { UnknownTopicError } from '../storage/errors.js';
import type { ControllerElection } from './controller-election.js';
import type { ClusterKeys } from './keys.js';
import type { PartitionState } from './partition-state.js';
import { readPartitionState } from './partition-state-store.js';
import { startReassignment } from './reassignment.js';

export interface ReassignmentRequest {
  topic: string;
  partition: number;
  /** The target replica list, preferred leader first. */
  replicas: readonly number[];
}

export class ReassignmentAdmin {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly election: ControllerElection,
    /** The live broker ids now (the controller's directory). */
    private readonly liveBrokers: () => number[],
  ) {}

  /**
   * Records the reassignment of one partition. Resolves with the state written, or undefined
   * when the target is already the replica list. Refuses (SluiceError, naming what is wrong) an
   * unknown topic or partition, an empty list, a repeated id, a broker that is neither live nor
   * already a replica, and a partition already being reassigned.
   */
  async reassign(req: ReassignmentRequest): Promise<PartitionState | undefined> {
    const where = `${req.topic}-${req.partition}`;
    for (;;) {
      const cur = await readPartitionState(this.client, this.keys, req.topic, req.partition);
      if (cur === undefined) throw new UnknownTopicError(req.topic, req.partition);
      // A replica that is down right now may stay in the list (it catches up when it returns);
      // a broker that is neither registered nor a replica would never join.
      const known = new Set([...this.liveBrokers(), ...cur.state.replicas]);
      const next = startReassignment(cur.state, req.replicas, known, where);
      if (next === undefined) return undefined;
      const res = await this.election.fencedTxn(
        [this.client.put(cur.key).value(JSON.stringify(next))],
        [[cur.key, 'Mod', '==', cur.modRevision]],
      );
      if (res.succeeded) return next;
      // The key moved on (an ISR change): decide again on the new state.
    }
  }
}
