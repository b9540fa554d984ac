/**
 * The controller's automatic preferred-leader check (Kafka's auto.leader.rebalance.enable,
 * leader.imbalance.check.interval.seconds, leader.imbalance.per.broker.percentage; docs/cluster.md,
 * "Moving data between brokers"). While this broker is the controller, every `intervalMs`
 * (the first check one interval after it was elected, as in Kafka) it reads every partition
 * state, decides with `leaderImbalance` which partitions to move back to their preferred
 * replica, and writes each as `sluice cluster elect-leaders` does (ReassignmentAdmin: a
 * compare-and-swap fenced by the controller epoch that decides again on the state it reads,
 * so a partition that changed since the read is moved only if it still may be).
 *
 * With `enabled` false the check still runs and is counted, moving nothing: the operator
 * sees the imbalance (sluice_cluster_preferred_leader_imbalance) and runs elect-leaders.
 */
import type { Etcd3 } from 'etcd3';
import { SluiceError } from '../errors.js';
import type { ControllerElection } from './controller-election.js';
import { ControllerFencedError } from './errors.js';
import type { ClusterKeys } from './keys.js';
import { leaderImbalance } from './leader-imbalance.js';
import { readAllPartitionStates } from './partition-state-store.js';
import { ReassignmentAdmin } from './reassignment-admin.js';

export interface AutoLeaderRebalanceOptions {
  /** Move leaderships back (setting autoLeaderRebalance); false: check and count only. */
  enabled: boolean;
  /** leaderImbalanceCheckIntervalMs. */
  intervalMs: number;
  /** leaderImbalancePerBrokerPercentage. */
  perBrokerPercentage: number;
  /** A check finished (or was cut short after some elections): the partitions it moved back, each with its new leader (for metrics and the log). */
  onCheck?(elected: readonly { topic: string; partition: number; leader: number }[]): void;
  onError?(err: Error): void;
}

/** Elections that lost a race with another change since the read: nothing to do for that partition now. */
const RACED = new Set(['ELECTION_NOT_NEEDED', 'PREFERRED_LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION']);

export class AutoLeaderRebalance {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly admin: ReassignmentAdmin;
  private readonly onElected = (): void => { this.schedule(); };
  private readonly onDeposed = (): void => { this.unschedule(); };

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly election: ControllerElection,
    /** The live broker ids now (the controller's directory). */
    private readonly liveBrokers: () => number[],
    private readonly opts: AutoLeaderRebalanceOptions,
  ) {
    this.admin = new ReassignmentAdmin(client, keys, election, liveBrokers);
    election.on('elected', this.onElected);
    election.on('deposed', this.onDeposed);
    if (election.epoch !== undefined) this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.unschedule();
    this.election.off('elected', this.onElected);
    this.election.off('deposed', this.onDeposed);
  }

  /**
   * One check now, unless one is running or this broker is not the controller. Never rejects:
   * a failure goes to onError, and a lost controllership ends the check quietly (the
   * successor checks).
   */
  async check(): Promise<void> {
    if (this.running || this.stopped || this.election.epoch === undefined) return;
    this.running = true;
    const elected: { topic: string; partition: number; leader: number }[] = [];
    let done = false;
    try {
      const { states } = await readAllPartitionStates(this.client, this.keys);
      const { toElect } = leaderImbalance(states, new Set(this.liveBrokers()), this.opts.perBrokerPercentage);
      for (const p of this.opts.enabled ? toElect : []) {
        if (this.stopped) break;
        try {
          const s = await this.admin.electPreferredLeader(p.topic, p.partition);
          elected.push({ ...p, leader: s.leader });
        } catch (err) {
          if (err instanceof SluiceError && RACED.has(err.code)) continue;
          throw err;
        }
      }
      done = true;
    } catch (err) {
      if (!(err instanceof ControllerFencedError)) this.opts.onError?.(err as Error);
    } finally {
      this.running = false;
    }
    // A check cut short still reports the elections it wrote.
    if (done || elected.length > 0) this.opts.onCheck?.(elected);
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setInterval(() => { void this.check(); }, this.opts.intervalMs);
    this.timer.unref();
  }

  private unschedule(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
