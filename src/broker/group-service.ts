/**
 * The broker's side of consumer groups: opens the offset store on internal topics
 * `__consumer_offsets-<n>`, runs the coordinator's liveness timer, tells it about topic
 * changes (it subscribes to the topic events, storage/topic-events.ts), logs one line per rebalance, feeds the group metrics, and pushes rebalance
 * notices to the members of a group whose epoch moved (group-push.ts).
 *
 * Internal topics (`__` prefix) are the broker's own: hidden from Metadata listings,
 * refused for user create/delete/produce (see isInternalTopicName's callers), and never
 * offered to a group subscription.
 *
 * Where a group's coordinator is (`coordinatorFor`): on a single broker, the one coordinator
 * over the local generation logs, exactly as before cluster mode. In cluster mode
 * (docs/cluster.md, "Coordinators") one coordinator per partition of the replicated
 * `__consumer_offsets` topic this broker leads (coordinator-partitions.ts), rebuilt from the
 * replica when it becomes leader and dropped when it stops; its offsets are written with
 * acks=all (replicated-generation-dir.ts). Until `startCluster` is called (replication starts
 * after this service opens) no group is coordinated here.
 */
import { GroupCoordinator, type CoordinatorOptions } from '../group/coordinator.js';
import { OFFSETS_PREFIX, OffsetStore } from '../group/offset-store.js';
import { logManagerGenerationDir } from '../state-log/generation-log.js';
import { systemClock } from '../group/types.js';
import type { BrokerConfig } from '../config/settings.js';
import type { LogManager } from '../storage/types.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { Logger } from './logger.js';
import { GroupLagCache } from './group-lag.js';
import { GroupPush } from './group-push.js';
import { isInternalTopicName } from '../topic-name.js';
import { NotCoordinatorError } from '../group/errors.js';
import { quarantineSkipped } from './state-quarantine.js';
import { GROUP_COORDINATOR_TOPIC } from '../topic-name.js';
import { CoordinatorPartitions, leadershipChecks } from './coordinator-partitions.js';
import { replicatedGenerationDir } from './replicated-generation-dir.js';
import type { BrokerContext } from './context.js';
import type { ReplicaRole } from '../replication/replica-manager.js';
import type { Authorizer } from './authorize.js';
import type { AclSet } from '../auth/acl.js';

/** Liveness checks run at least this often; sooner when a member's deadline is nearer. */
const TICK_MS = 1000;

export class GroupService {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;
  private readonly unsubscribe: (() => void)[] = [];
  /** Cluster mode: the coordinators of the coordinator partitions led here (set by startCluster). */
  private partitions: CoordinatorPartitions<GroupCoordinator> | undefined;
  private topics: ReadonlyMap<string, number> = new Map();
  /** `auth: scram` (useAuthorizer): pattern subscriptions resolve to what a member's user may read. */
  private authorizer: Authorizer | undefined;
  /** The ACLs the coordinators last resolved patterns with; a new AclSet (a change) makes them look again. */
  private aclsSeen: AclSet | undefined;

  private constructor(
    /** Single broker: the one coordinator of every group. Undefined in cluster mode. */
    private readonly single: GroupCoordinator | undefined,
    readonly push: GroupPush,
    private readonly logs: LogManager,
    private readonly log: Logger,
    private readonly options: CoordinatorOptions,
  ) {}

  static async open(config: BrokerConfig, logs: LogManager, log: Logger, metrics: BrokerMetrics): Promise<GroupService> {
    const started = Date.now();
    const clustered = config.etcd !== undefined;
    const store = clustered ? undefined : await OffsetStore.open(logManagerGenerationDir(logs, OFFSETS_PREFIX), {
      clock: systemClock, onCompactionError: (err) => log.error('offset store compaction failed', { error: err }),
      onBadRecord: quarantineSkipped(logs.dataDir, 'offsets', OFFSETS_PREFIX, log, metrics),
    });
    const g = config.group;
    // The coordinator's onEpochBump feeds the push registry, which asks the coordinator about
    // membership; the registry only calls back later (on setImmediate or a tick).
    let svc: GroupService | undefined;
    const push = new GroupPush((group, member) => svc?.loadedFor(group)?.hasMember(group, member) ?? false, { windowMs: g.heartbeatIntervalMs });
    const options: CoordinatorOptions = {
      clock: systemClock,
      sessionTimeoutMs: g.sessionTimeoutMs,
      minSessionTimeoutMs: g.minSessionTimeoutMs,
      maxSessionTimeoutMs: g.maxSessionTimeoutMs,
      heartbeatIntervalMs: g.heartbeatIntervalMs,
      reconcileHeartbeatIntervalMs: g.reconcileHeartbeatIntervalMs,
      offsetsRetentionMs: g.offsetsRetentionMs,
      onEpochBump: (group, epoch, members, changed) => {
        metrics.rebalance(group);
        log.info('rebalance', { group, epoch, members, changed: changed.length });
        push.epochBumped(group, changed);
      },
      onBackgroundError: (err) => log.error('group bookkeeping write failed', { error: err }),
      onRestoreWarning: (w) => log.warn('persisted group membership: invalid field skipped', { group: w.group, field: w.field, problem: w.problem }),
      topicAccess: (principal, topic) => svc?.mayRead(principal, 'topic', topic) ?? true,
      groupAccess: (principal, group) => svc?.mayRead(principal, 'group', group) ?? true,
    };
    const single = store ? new GroupCoordinator(store, options) : undefined;
    svc = new GroupService(single, push, logs, log, options);
    const self = svc;
    self.topicsChanged();
    const changed = (e: { topic: string }) => { if (!isInternalTopicName(e.topic)) self.topicsChanged(); };
    self.unsubscribe.push(logs.events.on('topicCreated', changed), logs.events.on('topicDeleted', changed), logs.events.on('partitionsAdded', changed));
    const lag = new GroupLagCache(logs);
    metrics.collectGroups(() => lag.collect(self.coordinators()));
    if (store) log.info('groups loaded', { groups: store.groups().length, ms: Date.now() - started });
    self.schedule();
    return self;
  }

  /**
   * Cluster mode, just before replication starts: coordinates the groups of every
   * coordinator partition this broker leads. The broker passes `roleChanged` to the replica
   * manager's onRoleChange; loads use `ctx.replicas`, set by then.
   */
  startCluster(
    ctx: BrokerContext, partitionCount: () => number | undefined, ledHere: (partition: number) => boolean,
    /** ClusterNode.viewCaughtUp: whether the view has every change up to this session's registration. */
    viewCaughtUp: () => boolean,
  ): void {
    this.partitions = new CoordinatorPartitions({
      partitionCount,
      ledHere,
      log: this.log,
      ...leadershipChecks(ctx, GROUP_COORDINATOR_TOPIC, viewCaughtUp),
      open: async (p, leaderEpoch) => {
        const rm = ctx.replicas;
        if (!rm) throw new Error('replication is not running');
        const dir = replicatedGenerationDir(ctx, rm, GROUP_COORDINATOR_TOPIC, p, leaderEpoch);
        const store = await OffsetStore.open(dir, {
          // Compaction with the single broker's thresholds (CompactedLog's), in place: a snapshot, then a log start advance.
          clock: systemClock,
          onCompactionError: (err) => this.log.error('offset store compaction failed', { error: err, partition: p }),
        });
        // Membership persisted too: members keep their partitions across a coordinator move (KIP-848).
        const c = new GroupCoordinator(store, { ...this.options, persistMembership: true });
        c.onTopicsChanged(this.topics);
        return c;
      },
      close: (c) => c.store.close(),
      groupCount: (c) => c.listGroups().length,
    });
  }

  /**
   * `auth: scram`: members subscribed by pattern are assigned only the matching topics their
   * user may read, and a member whose user lost read on its group or on a topic it names is
   * removed; an ACL change reaches the groups within one liveness tick (TICK_MS).
   */
  useAuthorizer(authorizer: Authorizer): void {
    this.authorizer = authorizer;
    this.aclsSeen = authorizer.store.current;
  }

  private mayRead(principal: string, type: 'topic' | 'group', name: string): boolean {
    return this.authorizer?.allows(principal, 'read', { type, name }) ?? true;
  }

  /** ReplicaManager's onRoleChange: coordinator partitions load on leader and drop otherwise. */
  roleChanged(topic: string, partition: number, role: ReplicaRole): void {
    if (topic === GROUP_COORDINATOR_TOPIC) this.partitions?.roleChanged(partition, role === 'leader');
  }

  /**
   * The coordinator of `groupId` on this broker. Throws NOT_COORDINATOR (another broker
   * leads its partition), COORDINATOR_LOAD_IN_PROGRESS (this broker is replaying it) or
   * COORDINATOR_NOT_AVAILABLE (cluster mode only).
   */
  coordinatorFor(groupId: string): GroupCoordinator {
    if (this.single) return this.single;
    if (!this.partitions) throw new NotCoordinatorError(groupId, 'replication has not started yet');
    return this.partitions.lookup(groupId);
  }

  /** Every coordinator running here: the one of a single broker, or one per led coordinator partition. */
  coordinators(): GroupCoordinator[] {
    if (this.single) return [this.single];
    return this.partitions?.coordinators() ?? [];
  }

  private loadedFor(groupId: string): GroupCoordinator | undefined {
    return this.single ?? this.partitions?.has(groupId);
  }

  /** Gives the coordinators the current partition counts (on open and on every topic event). */
  private topicsChanged(): void {
    const topics = new Map<string, number>();
    for (const t of this.logs.topics()) if (!isInternalTopicName(t.name)) topics.set(t.name, t.partitions);
    this.topics = topics;
    for (const c of this.coordinators()) c.onTopicsChanged(topics);
  }

  private schedule(): void {
    if (this.closed) return;
    let deadline = Infinity;
    for (const c of this.coordinators()) deadline = Math.min(deadline, c.nextDeadline());
    const wait = Math.max(10, Math.min(TICK_MS, deadline - Date.now() + 1));
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      // The store replaces its AclSet whole on every change, so a new one is a change.
      const acls = this.authorizer?.store.current;
      if (acls !== this.aclsSeen) {
        this.aclsSeen = acls;
        for (const c of this.coordinators()) {
          const fenced = c.onAccessChanged();
          if (fenced.length) this.log.info('group members fenced: read revoked', { members: fenced });
        }
      }
      for (const c of this.coordinators()) {
        try {
          const { removedMembers, expiredOffsets } = await c.tick();
          if (removedMembers.length) this.log.info('group members timed out', { members: removedMembers });
          if (expiredOffsets) this.log.info('group offsets expired', { offsets: expiredOffsets });
        } catch (err) {
          this.log.error('group tick failed', { error: err });
        }
      }
      this.push.sweep();
    } finally {
      this.ticking = false;
      this.schedule();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.timer);
    await this.partitions?.close();
    await this.single?.store.close();
  }
}
