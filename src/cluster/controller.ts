/**
 * The controller's failover duty (docs/cluster.md, "Failover"): while this broker holds the
 * controller election, every change in the set of live brokers is answered by re-deciding
 * every partition's leader and ISR with `electLeader`, and writing the changes in
 * transactions of up to PARTITIONS_PER_TXN partitions, fenced by the controller epoch and
 * each partition key's mod revision. A batch that loses a race (a leader changed its ISR
 * meanwhile) is re-read and decided again partition by partition; a fenced write means
 * another broker is controller now, and this one stops.
 *
 * The passes also step running reassignments (reassignment.ts): a pass runs on each change of
 * a partition being reassigned (`partitionChanged`, from the view), and a partition is
 * re-read and decided again after each write until nothing changes.
 *
 * A broker that restarted (or re-registered after losing its session) may be live again before
 * any pass saw it gone: its broker epoch (broker-epochs.ts, KIP-380) tells. A pass that finds a
 * live broker at an epoch it has not handled decides every partition as if that broker were
 * dead (its leaderships move to another ISR member, or go offline if it was the only one; it
 * leaves the ISRs it cannot prove it belongs to), records the epoch, and runs again with it
 * live (its start-up: an offline partition returns with it at a new epoch).
 *
 * A new controller starts with a full pass, so a change its predecessor saw but did not finish
 * is not lost. Passes are serialized and coalesced: changes that arrive during a pass cause
 * exactly one more pass. A pass reads every partition key, which is what a cluster of
 * thousands of partitions can afford on a broker death; Kafka's controller kept an index by
 * broker for larger ones.
 */
import type { Etcd3 } from 'etcd3';
import { revision } from './keys.js';
import type { BrokerDirectory } from './broker-registry.js';
import type { ControllerElection } from './controller-election.js';
import { CoalescedTask } from './coalesced-task.js';
import { ControllerFencedError } from './errors.js';
import { WANTED_TXN_OPS } from './etcd-txn-limit.js';
import { bouncedBrokers, encodeBrokerEpochs, handledEpochs, readBrokerEpochs } from './broker-epochs.js';
import type { ClusterKeys } from './keys.js';
import { electLeader, type PartitionState } from './partition-state.js';
import { isReassigning, reassignmentStep } from './reassignment.js';
import { readAllPartitionStates, readPartitionState, type StoredPartitionState } from './partition-state-store.js';
import type { TopicAdmin } from './topic-admin.js';

/**
 * Partitions written per etcd transaction. etcd refuses a transaction with more than
 * `--max-txn-ops` comparisons or operations (128 by default, Debian's etcd-server 3.4 too);
 * each partition adds one put and one mod-revision comparison, beside the epoch's comparison.
 * An etcd with a lower limit gets smaller batches (`ControllerOptions.maxTxnOps`).
 */
export const PARTITIONS_PER_TXN = 127;

/** The backoff of a failed pass's retry (FailoverController.retryLater). */
const PASS_RETRY_MIN_MS = 250;
const PASS_RETRY_MAX_MS = 10_000;

export interface ControllerEvents {
  /** A partition got a new leader, went offline or lost ISR members; for logs and metrics. */
  onChange?(topic: string, partition: number, from: PartitionState, to: PartitionState): void;
  /** A pass found these brokers live at a broker epoch it had not handled (restarted within their lease); for logs. */
  onBounced?(nodeIds: number[]): void;
  /** A partition key holding a value no broker wrote: skipped by the pass; for logs. */
  onInvalid?(key: string, err: Error): void;
  onError?(err: Error): void;
}

export interface ControllerOptions extends ControllerEvents {
  /**
   * The operations etcd takes per transaction (its --max-txn-ops, as etcdTxnOps found it at
   * start-up); a pass writes min(PARTITIONS_PER_TXN, maxTxnOps - 1) partitions per transaction.
   * Default WANTED_TXN_OPS (etcd's default).
   */
  maxTxnOps?: number;
  /** Elect a replica outside the ISR when no ISR member lives (may lose acknowledged records). */
  uncleanLeaderElection?: boolean;
  /** Finishes topics a previous controller left half-written (their missing partitions) before each pass. */
  topics?: Pick<TopicAdmin, 'completeTopics'>;
}

export class FailoverController {
  private stopped = false;
  /** Brokers the running pass handles as dead although registered: they bounced (KIP-380). */
  private failing: ReadonlySet<number> = new Set();
  /** The wait before a failed pass runs again; doubles per failure up to PASS_RETRY_MAX_MS, reset by a pass that succeeds. */
  private retryMs = PASS_RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly passes = new CoalescedTask(async () => {
    try {
      await this.pass();
      this.retryMs = PASS_RETRY_MIN_MS;
    } catch (err) {
      if (err instanceof ControllerFencedError) return false; // not controller any more: the successor does the work
      this.opts.onError?.(err as Error);
      this.retryLater();
    }
    return true;
  }, () => !this.stopped && this.election.epoch !== undefined);
  /** Partitions per transaction: each adds one comparison to the controller epoch's. */
  private readonly perTxn: number;
  private readonly onDirectoryChange = (): void => { this.passes.kick(); };
  private readonly onElected = (): void => { this.passes.kick(); };

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly election: ControllerElection,
    private readonly directory: BrokerDirectory,
    private readonly opts: ControllerOptions = {},
  ) {
    this.perTxn = Math.max(1, Math.min(PARTITIONS_PER_TXN, (opts.maxTxnOps ?? WANTED_TXN_OPS) - 1));
    directory.on('change', this.onDirectoryChange);
    election.on('elected', this.onElected);
    this.passes.kick();
  }

  /**
   * A partition's state changed (the cluster view's event): a running reassignment may be able
   * to take its next step (its new replicas joined the ISR), so a pass runs.
   */
  partitionChanged(state: PartitionState | undefined): void {
    if (state !== undefined && isReassigning(state)) this.passes.kick();
  }

  /** Resolves when no pass is running or queued (tests and shutdown wait on it). */
  async idle(): Promise<void> {
    await this.passes.idle();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.directory.off('change', this.onDirectoryChange);
    this.election.off('elected', this.onElected);
  }

  /**
   * A failed pass (etcd slow or briefly unreachable, a value it could not read) runs again
   * after a backoff, not only on the next change of the live brokers: until one succeeds, a
   * dead broker's partitions have no leader and a restarted broker waits for its epoch to be
   * handled (ClusterNode.epochHandled) before it is ready.
   */
  private retryLater(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    const ms = this.retryMs;
    this.retryMs = Math.min(PASS_RETRY_MAX_MS, ms * 2);
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.passes.kick(); }, ms);
    this.retryTimer.unref();
  }

  /**
   * Leader elections first, then everything else (ISR shrinks of dead followers, reassignment
   * steps), as Kafka's controller elects leaders for offline partitions before it marks dead
   * replicas offline. A shrink only removes a follower whose lease expired; an election ends an
   * outage. Before, each decision was an etcd transaction and a re-read, one partition at a
   * time: on a loaded machine (chaos seeds 60-63, load 25-35) a pass after a broker's death
   * took 1-3.6 s for about 30 partitions, and the workload's partitions, whose keys sort after
   * the internal `__` topics, always got their new leaders last. Now the writes of a pass go
   * in transactions of PARTITIONS_PER_TXN partitions (the elections' first), each partition
   * guarded by its own mod revision: one round trip for up to 127 partitions.
   */
  private async pass(): Promise<void> {
    await this.opts.topics?.completeTopics();
    // The epochs as the pass starts: a broker that bounces during the pass is recorded at its
    // old epoch, so the next pass sees the change.
    const live = new Map(this.directory.epochs());
    const handled = await readBrokerEpochs(this.client, this.keys, (err) => { this.opts.onError?.(err); });
    const bounced = bouncedBrokers(handled, live);
    if (bounced.length > 0) this.opts.onBounced?.(bounced);
    this.failing = new Set(bounced);
    try {
      const { states } = await readAllPartitionStates(this.client, this.keys, (key, err) => { this.opts.onInvalid?.(key, err); });
      const electing: StoredPartitionState[] = [];
      const rest: StoredPartitionState[] = [];
      for (const s of states) {
        const next = this.next(s.state);
        if (next === undefined) continue;
        (next.leader !== s.state.leader ? electing : rest).push(s);
      }
      await this.decideAll(electing);
      await this.decideAll(rest);
    } finally {
      this.failing = new Set();
    }
    // Recorded only once every partition was decided without the bounced brokers: a controller
    // that dies before leaves the failure to its successor, which sees the old epochs.
    const next = handledEpochs(handled, live, this.directory.epochs());
    if (next !== undefined) await this.election.fencedTxn([this.client.put(this.keys.brokerEpochs).value(encodeBrokerEpochs(next))]);
    // Their start-up: a pass that counts them live again (an offline partition returns with them).
    if (bounced.length > 0) this.passes.kick();
  }

  /**
   * Writes the next state of each of `states` in batched transactions, then the step after it
   * (a reassignment takes several) until nothing is left. A batch whose transaction fails
   * because some partition changed since it was read (a leader's own ISR write) is decided
   * one partition at a time instead, each re-read (decide), so one race costs its batch a
   * round trip per partition, not a wrong write.
   */
  private async decideAll(states: readonly StoredPartitionState[]): Promise<void> {
    let pending = states;
    while (pending.length > 0) {
      const again: StoredPartitionState[] = [];
      for (let i = 0; i < pending.length; i += this.perTxn) {
        const batch: { cur: StoredPartitionState; next: PartitionState }[] = [];
        for (const cur of pending.slice(i, i + this.perTxn)) {
          const next = this.next(cur.state); // the live brokers may have changed since the read
          if (next !== undefined) batch.push({ cur, next });
        }
        if (batch.length === 0) continue;
        if (batch.length === 1) {
          await this.decide(batch[0]!.cur);
          continue;
        }
        const res = await this.election.fencedTxn(
          batch.map(({ cur, next }) => this.client.put(cur.key).value(JSON.stringify(next))),
          batch.map(({ cur }) => [cur.key, 'Mod', '==', cur.modRevision] as [string, 'Mod', '==', number]),
        );
        if (!res.succeeded) {
          for (const { cur } of batch) {
            const now = await readPartitionState(this.client, this.keys, cur.topic, cur.partition);
            if (now !== undefined) await this.decide(now);
          }
          continue;
        }
        // Written exactly as `next` at this revision (the comparisons held): no re-read needed.
        const rev = revision(res.header.revision);
        for (const { cur, next } of batch) {
          this.opts.onChange?.(cur.topic, cur.partition, cur.state, next);
          if (this.next(next) !== undefined) again.push({ ...cur, state: next, modRevision: rev });
        }
      }
      pending = again;
    }
  }

  /**
   * Decides one partition: a leader election after deaths first, then the next step of a
   * running reassignment, each written and re-read until nothing changes; a lost
   * compare-and-swap is re-read and decided again.
   */
  private async decide(first: StoredPartitionState): Promise<void> {
    let cur: StoredPartitionState | undefined = first;
    while (cur !== undefined) {
      const next = this.next(cur.state);
      if (next === undefined) return;
      const res = await this.election.fencedTxn(
        [this.client.put(cur.key).value(JSON.stringify(next))],
        [[cur.key, 'Mod', '==', cur.modRevision]],
      );
      if (res.succeeded) this.opts.onChange?.(cur.topic, cur.partition, cur.state, next);
      cur = await readPartitionState(this.client, this.keys, cur.topic, cur.partition);
    }
  }

  /** The state the controller writes next for `s`, or undefined when it waits or nothing is to do. */
  private next(s: PartitionState): PartitionState | undefined {
    const live = new Set(this.directory.brokers().keys());
    for (const b of this.failing) live.delete(b);
    const r = electLeader(s, live, this.opts.uncleanLeaderElection === true);
    if (r.kind !== 'unchanged') return r.state;
    const step = reassignmentStep(s, live);
    return step.kind === 'leader-moved' || step.kind === 'completed' ? step.state : undefined;
  }
}
