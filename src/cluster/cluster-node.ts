/**
 * One broker's membership in the cluster, composed from the pieces in this folder: an etcd
 * session, the broker's registration, the live-broker directory, the view of topics and
 * partition states, and its candidacy for controller (with the failover passes and topic
 * changes it runs while it leads).
 *
 * A lost session (etcd expired the lease: this broker was paused or cut off for longer than
 * the TTL) is not the end: as a Kafka broker re-registers after its ZooKeeper session
 * expired, the node opens a new session, registers again and campaigns again, with backoff,
 * until it is stopped. In between it holds nothing (no controllership) and says so.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { AutoLeaderRebalance, type AutoLeaderRebalanceOptions } from './auto-leader-rebalance.js';
import { BrokerDirectory, registerBroker, type BrokerInfo } from './broker-registry.js';
import { ClusterView } from './cluster-view.js';
import { ControllerElection } from './controller-election.js';
import { FailoverController } from './controller.js';
import type { PartitionState } from './partition-state.js';
import { EtcdSession } from './etcd-session.js';
import { ClusterKeys } from './keys.js';
import { ReassignmentAdmin } from './reassignment-admin.js';
import { TopicAdmin } from './topic-admin.js';
import { etcdTxnOps, MIN_TXN_OPS, WANTED_TXN_OPS } from './etcd-txn-limit.js';
import { EtcdTxnLimitError } from './errors.js';
import { SILENT_EVENT_LOGGER, type EventLogger } from '../event-logger.js';

export interface ClusterNodeOptions {
  nodeId: number;
  advertisedUrl: string;
  clusterName: string;
  sessionTtlMs: number;
  uncleanLeaderElection?: boolean;
  /** While this broker is the controller: each partition state it wrote (a new leader, offline, ISR shrunk by a death); for metrics. */
  onPartitionChange?: (topic: string, partition: number, from: PartitionState, to: PartitionState) => void;
  /** Silent unless given: events an operator acts on (session lost, controller change). */
  log?: EventLogger;
  /** The controller's automatic preferred-leader check (auto-leader-rebalance.ts); none when absent. */
  autoLeaderRebalance?: Omit<AutoLeaderRebalanceOptions, 'onError'>;
}

type NodeEvents = {
  /** The session is up and this broker registered (again, after a loss). */
  registered: [];
  /** The session is gone; the node is trying to get a new one. */
  sessionLost: [Error];
  controller: [active: boolean];
  /**
   * Whether the controller has handled this broker's current registration changed
   * (`epochHandled`): false from a new registration until the controller's pass recorded its
   * epoch, true from then on. The replica manager applies its states again on each change.
   */
  epochHandled: [handled: boolean];
};

export class ClusterNode extends EventEmitter<NodeEvents> {
  readonly keys: ClusterKeys;
  private session: EtcdSession | undefined;
  /** etcd revision of the current session's registration; undefined until it is written. */
  private registeredAt: number | undefined;
  /** The broker epoch of the current registration (its key's create revision); undefined until written. */
  private epoch: number | undefined;
  /** epochHandled as last told (the `epochHandled` event fires on changes only). */
  private toldHandled = false;
  /** untilEpochHandled's waits, woken by leave(). */
  private readonly leaveWaiters = new Set<() => void>();
  private election: ControllerElection | undefined;
  private controller: FailoverController | undefined;
  private leaderRebalance: AutoLeaderRebalance | undefined;
  private directoryHandle: BrokerDirectory | undefined;
  private viewHandle: ClusterView | undefined;
  private stopped = false;
  private closed = false;
  private readonly log: EventLogger;
  /** etcd's --max-txn-ops as probed at start (the controller's batches are cut to it). */
  private txnOps = WANTED_TXN_OPS;

  constructor(readonly client: Etcd3, private readonly opts: ClusterNodeOptions) {
    super();
    this.keys = new ClusterKeys(opts.clusterName);
    this.log = opts.log ?? SILENT_EVENT_LOGGER;
  }

  /**
   * Registers (waiting out this broker's previous life, refusing a live duplicate id) and starts
   * campaigning. First learns how many operations etcd takes per transaction: an etcd whose
   * --max-txn-ops is below what the controller's smallest write needs stops start-up
   * (EtcdTxnLimitError, naming the flag); one below its default of 128 gets smaller batches and
   * a warning.
   */
  async start(): Promise<void> {
    this.txnOps = await etcdTxnOps(this.client, this.keys.txnProbe);
    if (this.txnOps < MIN_TXN_OPS) throw new EtcdTxnLimitError(this.txnOps, MIN_TXN_OPS);
    if (this.txnOps < WANTED_TXN_OPS) {
      this.log.warn('cluster.etcd.max-txn-ops-low', {
        maxTxnOps: this.txnOps, wanted: WANTED_TXN_OPS,
        effect: 'the controller writes failovers and new topics in smaller transactions (more round trips)',
        fix: `start etcd with --max-txn-ops ${WANTED_TXN_OPS} (its default) or more`,
      });
    }
    this.directoryHandle = await BrokerDirectory.open(this.client, this.keys, (key, err) => {
      this.log.warn('cluster.directory.invalid-value', { key, error: err.message });
    });
    this.viewHandle = await ClusterView.open(this.client, this.keys);
    // A reassignment waits on ISR changes the leaders write: the controller looks again at each.
    this.viewHandle.on('partition', (_t, _p, s) => { this.controller?.partitionChanged(s?.state); });
    this.viewHandle.on('brokerEpochs', () => { this.tellEpochHandled(); });
    await this.join();
  }

  get directory(): BrokerDirectory {
    if (this.directoryHandle === undefined) throw new Error('cluster node not started');
    return this.directoryHandle;
  }

  get view(): ClusterView {
    if (this.viewHandle === undefined) throw new Error('cluster node not started');
    return this.viewHandle;
  }

  /**
   * Whether the view has caught up with etcd as of this broker's current registration (it
   * applied every change up to the revision that registered this session): false from a
   * session's loss until the watch delivered the changes made meanwhile. A broker whose lease
   * expired wakes up or reconnects to a view that still shows what it led before; once it
   * re-registered, its session is valid again while those leaderships may belong to others.
   */
  get viewCaughtUp(): boolean {
    return this.registeredAt !== undefined && this.view.revision >= this.registeredAt;
  }

  /**
   * The self-fence's "trusted now": a valid session AND a view caught up to that session's
   * registration. A broker that re-registered after losing its session has a valid session
   * again while its view, fed by a watch that was cut, may still name it leader of partitions
   * the controller gave away meanwhile: it must not acknowledge writes for them (split brain).
   * While etcd is down, viewCaughtUp keeps its old value (failsafe mode decides then). And the
   * controller has handled this registration's broker epoch (epochHandled).
   */
  get sessionTrusted(): boolean {
    return this.hasSession && this.viewCaughtUp && this.epochHandled;
  }

  /**
   * This broker's epoch (KIP-380: the create revision of its registration key), undefined
   * between a lost session and the next registration.
   */
  get brokerEpoch(): number | undefined {
    return this.epoch;
  }

  /**
   * Whether the controller has handled this broker's current registration: its epoch is the
   * one `broker-epochs` records, as this view sees it (docs/cluster.md, "Failover"). Until then
   * this broker leads nothing (Kafka fences a broker that registered with a new epoch until
   * the controller sent it LeaderAndIsr naming that epoch): a restarted or re-registered broker
   * would otherwise lead at its old leader epoch the partitions the controller is about to move,
   * since the controller handles a bounce as a failure first. The view applies the record in
   * revision order, so when this turns true the states that pass wrote are applied already.
   * True while the record is absent: no controller that keeps it has run yet (a cluster of
   * brokers from before broker epochs), and nobody would ever record this broker.
   */
  get epochHandled(): boolean {
    if (this.epoch === undefined || this.viewHandle === undefined) return false;
    const handled = this.viewHandle.brokerEpochs;
    return handled === undefined || handled.get(this.opts.nodeId) === this.epoch;
  }

  /** Resolves once `epochHandled` is true (start-up waits for it before the broker is ready). */
  async untilEpochHandled(): Promise<void> {
    while (!this.epochHandled) {
      if (this.stopped) throw new Error('cluster node stopped');
      await new Promise<void>((resolveP) => {
        const done = (): void => { this.off('epochHandled', done); this.leaveWaiters.delete(done); resolveP(); };
        this.on('epochHandled', done);
        this.leaveWaiters.add(done);
      });
    }
  }

  /** Whether this broker holds a valid session now (readiness). */
  get hasSession(): boolean {
    return this.session !== undefined && !this.session.lost && this.session.isValid();
  }

  /**
   * Milliseconds since etcd last answered this broker's session (its grant or a keep-alive),
   * across rejoins: the failsafe's "cannot see etcd either" (cluster/failsafe.ts).
   */
  etcdSilentMs(now = performance.now()): number {
    return this.session === undefined ? Infinity : now - this.session.lastAnswerAt;
  }

  /** How long etcd must be silent before this broker's session fences itself (TTL minus the margin). */
  get fenceAfterMs(): number {
    return this.session?.fenceAfterMs ?? this.opts.sessionTtlMs;
  }

  get isController(): boolean {
    return this.election?.epoch !== undefined;
  }

  /** The controller's topic changes; only the controller's succeed (others get ControllerFencedError). */
  topicAdmin(): TopicAdmin {
    if (this.election === undefined) throw new Error('cluster node not started');
    return new TopicAdmin(this.client, this.keys, this.election, () => [...this.directory.brokers().keys()], this.txnOps);
  }

  /** The controller's reassignments; only the controller's succeed (others get ControllerFencedError). */
  reassignmentAdmin(): ReassignmentAdmin {
    if (this.election === undefined) throw new Error('cluster node not started');
    return new ReassignmentAdmin(this.client, this.keys, this.election, () => [...this.directory.brokers().keys()]);
  }

  /**
   * Resigns (a successor is elected at once) and revokes the session (the registration vanishes
   * at once, so the controller moves this broker's leaderships away), but keeps watching: a
   * controlled shutdown waits in the view for its leaderships to move before it stops.
   */
  async leave(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const wake of [...this.leaveWaiters]) wake();
    this.controller?.stop();
    this.leaderRebalance?.stop();
    // A resign etcd does not take (etcd unreachable) costs nothing: the session's revoke below,
    // or else its expiry within the TTL, removes the candidate key all the same.
    await this.election?.resign().catch(() => {});
    await this.session?.close();
  }

  /** leave(), then stops watching. */
  async stop(): Promise<void> {
    if (this.closed) return; // a second stop would wait on etcd for watches already cancelled
    this.closed = true;
    await this.leave();
    await this.viewHandle?.close();
    await this.directoryHandle?.close();
  }

  private async join(): Promise<void> {
    const session = await EtcdSession.open(this.client, { ttlMs: this.opts.sessionTtlMs });
    // Not caught up from the new session until its registration is in the view (while etcd is
    // down the old value stands: failsafe mode serves from a view nobody can change meanwhile).
    this.registeredAt = undefined;
    this.epoch = undefined;
    this.tellEpochHandled();
    this.session = session;
    const info: BrokerInfo = { nodeId: this.opts.nodeId, url: this.opts.advertisedUrl, startedAt: Date.now() };
    const registration = await registerBroker(this.client, this.keys, session, info);
    this.registeredAt = registration.revision;
    this.epoch = registration.epoch;
    this.tellEpochHandled();
    const election = new ControllerElection(this.client, this.keys, session, this.opts.nodeId);
    this.election = election;
    election.on('elected', (epoch) => {
      this.log.info('cluster.controller.elected', { nodeId: this.opts.nodeId, epoch });
      this.emit('controller', true);
    });
    election.on('deposed', () => {
      this.log.warn('cluster.controller.deposed', { nodeId: this.opts.nodeId });
      this.emit('controller', false);
    });
    election.on('error', (err) => { this.log.error('cluster.controller.election-failed', { error: err.message }); });
    election.on('retrying', (err, delay) => { this.log.warn('cluster.controller.campaign-retrying', { error: err.message, retryInMs: delay }); });
    this.controller?.stop();
    this.controller = new FailoverController(this.client, this.keys, election, this.directory, {
      uncleanLeaderElection: this.opts.uncleanLeaderElection === true,
      maxTxnOps: this.txnOps,
      topics: new TopicAdmin(this.client, this.keys, election, () => [...this.directory.brokers().keys()], this.txnOps),
      onChange: (topic, partition, from, to) => {
        this.log.info('cluster.partition-state.changed', { topic, partition, from, to });
        this.opts.onPartitionChange?.(topic, partition, from, to);
      },
      onBounced: (nodeIds) => { this.log.warn('cluster.brokers.bounced', { nodeIds }); },
      onInvalid: (key, err) => { this.log.warn('cluster.controller.invalid-value', { key, error: err.message }); },
      onError: (err) => { this.log.error('cluster.controller.pass-failed', { error: err.message }); },
    });
    this.leaderRebalance?.stop();
    const rebalance = this.opts.autoLeaderRebalance;
    if (rebalance !== undefined) {
      this.leaderRebalance = new AutoLeaderRebalance(this.client, this.keys, election, () => [...this.directory.brokers().keys()], {
        ...rebalance,
        onCheck: (elected) => {
          for (const p of elected) this.log.info('cluster.leader-rebalance.elected', p);
          rebalance.onCheck?.(elected);
        },
        onError: (err) => { this.log.warn('cluster.leader-rebalance.failed', { error: err.message }); },
      });
    }
    session.once('lost', (err) => { this.rejoin(err); });
    this.emit('registered');
    // Campaigning waits until this broker leads, maybe forever: not part of start().
    election.campaign().catch((err: unknown) => {
      if (!this.stopped && !session.lost) this.log.error('cluster.controller.campaign-failed', { error: (err as Error).message });
    });
  }

  private tellEpochHandled(): void {
    const handled = this.epochHandled;
    if (handled === this.toldHandled) return;
    this.toldHandled = handled;
    if (handled) this.log.info('cluster.broker-epoch.handled', { nodeId: this.opts.nodeId, brokerEpoch: this.epoch });
    else if (this.epoch !== undefined) this.log.info('cluster.broker-epoch.waiting', { nodeId: this.opts.nodeId, brokerEpoch: this.epoch });
    this.emit('epochHandled', handled);
  }

  private rejoin(err: Error): void {
    if (this.stopped) return;
    this.log.error('cluster.session.lost', { nodeId: this.opts.nodeId, error: err.message });
    this.emit('sessionLost', err);
    void (async () => {
      for (let delay = 200; !this.stopped; delay = Math.min(delay * 2, 5000)) {
        try {
          await this.join();
          return;
        } catch (e) {
          this.log.warn('cluster.session.rejoin-failed', { error: (e as Error).message, retryInMs: delay });
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })();
  }
}
