/**
 * The operator's moves of one partition, on the controller: starting a reassignment
 * (src/cluster/reassignment.ts), cancelling one, and preferred-leader elections. Each is
 * checked against the partition's state and the live brokers, then written into the
 * partition's key by compare-and-swap, fenced by the controller epoch (a lost race is re-read
 * and decided again). The controller's passes (controller.ts) carry a reassignment on from
 * there, this controller's or a successor's.
 */
import type { Etcd3 } from 'etcd3';
import { UnknownTopicError } from '../storage/errors.js';
import type { ControllerElection } from './controller-election.js';
import type { ClusterKeys } from './keys.js';
import { SluiceError } from '../errors.js';
import { electPreferredLeader, type PartitionState } from './partition-state.js';
import { readAllPartitionStates, readPartitionState } from './partition-state-store.js';
import { cancelReassignment, startReassignment } from './reassignment.js';

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
    return this.update(req.topic, req.partition, (cur, where) => {
      // A replica that is down right now may stay in the list (it catches up when it returns);
      // a broker that is neither registered nor a replica would never join.
      const known = new Set([...this.liveBrokers(), ...cur.replicas]);
      return startReassignment(cur, req.replicas, known, where);
    });
  }

  /**
   * Cancels the running reassignment of one partition (KIP-455): the original replicas come
   * back, the adding brokers are no longer placed (they delete their logs), a leader outside
   * the original replicas hands back at a new epoch. Refuses NO_REASSIGNMENT_IN_PROGRESS
   * (none runs, or no original replica could lead without loss) and unknown partitions.
   */
  async cancel(topic: string, partition: number): Promise<PartitionState> {
    const live = (): Set<number> => new Set(this.liveBrokers());
    return (await this.update(topic, partition, (cur, where) => cancelReassignment(cur, live(), where)))!;
  }

  /**
   * Moves the leadership of one partition to its preferred (first) replica, at a new epoch.
   * Resolves with the state written; refuses ELECTION_NOT_NEEDED (it leads already) and
   * PREFERRED_LEADER_NOT_AVAILABLE (not alive, not in the ISR, or being reassigned).
   */
  async electPreferredLeader(topic: string, partition: number): Promise<PartitionState> {
    return (await this.update(topic, partition, (cur, where) => {
      const r = electPreferredLeader(cur, new Set(this.liveBrokers()));
      if (r.kind === 'elected') return r.state;
      if (r.kind === 'not-needed') throw new SluiceError('ELECTION_NOT_NEEDED', `${where}: its preferred replica ${cur.leader} leads already`);
      throw new SluiceError('PREFERRED_LEADER_NOT_AVAILABLE', `${where}: cannot move the leadership to the preferred replica: ${r.reason}`);
    }))!;
  }

  /** Every partition whose leader is not its first replica (candidates for preferred-leader elections). */
  async notPreferred(): Promise<{ topic: string; partition: number }[]> {
    const { states } = await readAllPartitionStates(this.client, this.keys);
    return states.filter((s) => s.state.replicas.length > 0 && s.state.leader !== s.state.replicas[0]).map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /**
   * Reads the partition, decides its next state (undefined: nothing to write) and writes it by
   * compare-and-swap fenced by the controller epoch; a key that moved on meanwhile (an ISR
   * change) is decided again on its new state.
   */
  private async update(topic: string, partition: number, decide: (cur: PartitionState, where: string) => PartitionState | undefined): Promise<PartitionState | undefined> {
    const where = `${topic}-${partition}`;
    for (;;) {
      const cur = await readPartitionState(this.client, this.keys, topic, partition);
      if (cur === undefined) throw new UnknownTopicError(topic, partition);
      const next = decide(cur.state, where);
      if (next === undefined) return undefined;
      const res = await this.election.fencedTxn(
        [this.client.put(cur.key).value(JSON.stringify(next))],
        [[cur.key, 'Mod', '==', cur.modRevision]],
      );
      if (res.succeeded) return next;
    }
  }
}
