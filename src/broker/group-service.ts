/**
 * The broker's side of consumer groups: opens the offset store on internal topics
 * `__consumer_offsets-<n>`, runs the coordinator's liveness timer, tells it about topic
 * changes (it subscribes to the topic events, storage/topic-events.ts), logs one line per rebalance, feeds the group metrics, and pushes rebalance
 * notices to the members of a group whose epoch moved (group-push.ts).
 *
 * Internal topics (`__` prefix) are the broker's own: hidden from Metadata listings,
 * refused for user create/delete/produce (see isInternalTopicName's callers), and never
 * offered to a group subscription.
 */
import { GroupCoordinator } from '../group/coordinator.js';
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
import { quarantineSkipped } from './state-quarantine.js';

/** Liveness checks run at least this often; sooner when a member's deadline is nearer. */
const TICK_MS = 1000;

export class GroupService {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;
  private readonly unsubscribe: (() => void)[] = [];

  private constructor(readonly coordinator: GroupCoordinator, readonly push: GroupPush, private readonly logs: LogManager, private readonly log: Logger) {}

  static async open(config: BrokerConfig, logs: LogManager, log: Logger, metrics: BrokerMetrics): Promise<GroupService> {
    const started = Date.now();
    const store = await OffsetStore.open(logManagerGenerationDir(logs, OFFSETS_PREFIX), {
      clock: systemClock, onCompactionError: (err) => log.error('offset store compaction failed', { error: err }),
      onBadRecord: quarantineSkipped(logs.dataDir, 'offsets', OFFSETS_PREFIX, log, metrics),
    });
    const g = config.group;
    // The coordinator's onEpochBump feeds the push registry, which asks the coordinator about
    // membership; the registry only calls back later (on setImmediate or a tick).
    const push = new GroupPush((group, member) => coordinator.hasMember(group, member), { windowMs: g.heartbeatIntervalMs });
    const coordinator = new GroupCoordinator(store, {
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
    });
    const svc = new GroupService(coordinator, push, logs, log);
    svc.topicsChanged();
    const changed = (e: { topic: string }) => { if (!isInternalTopicName(e.topic)) svc.topicsChanged(); };
    svc.unsubscribe.push(logs.events.on('topicCreated', changed), logs.events.on('topicDeleted', changed), logs.events.on('partitionsAdded', changed));
    const lag = new GroupLagCache(logs);
    metrics.collectGroups(() => lag.collect(coordinator));
    log.info('groups loaded', { groups: store.groups().length, ms: Date.now() - started });
    svc.schedule();
    return svc;
  }

  /** Gives the coordinator the current partition counts (on open and on every topic event). */
  private topicsChanged(): void {
    const topics = new Map<string, number>();
    for (const t of this.logs.topics()) if (!isInternalTopicName(t.name)) topics.set(t.name, t.partitions);
    this.coordinator.onTopicsChanged(topics);
  }

  private schedule(): void {
    if (this.closed) return;
    const wait = Math.max(10, Math.min(TICK_MS, this.coordinator.nextDeadline() - Date.now() + 1));
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const { removedMembers, expiredOffsets } = await this.coordinator.tick();
      if (removedMembers.length) this.log.info('group members timed out', { members: removedMembers });
      if (expiredOffsets) this.log.info('group offsets expired', { offsets: expiredOffsets });
      this.push.sweep();
    } catch (err) {
      this.log.error('group tick failed', { error: err });
    } finally {
      this.ticking = false;
      this.schedule();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.timer);
    await this.coordinator.store.close();
  }
}
