/**
 * Where a share group's coordinator runs (docs/cluster.md, "Coordinators"; docs/queue.md).
 *
 *   single broker  one ShareService over the local generation topics `__share_state-<n>`,
 *                  exactly as before cluster mode: every group is coordinated here
 *   cluster        one ShareService per partition of the replicated `__share_state` topic this
 *                  broker leads (coordinator-partitions.ts, the mechanism consumer groups
 *                  use): group `g` belongs to partition coordinatorPartition(g, N); the
 *                  service is rebuilt from the replica when this broker becomes leader
 *                  (COORDINATOR_LOAD_IN_PROGRESS meanwhile), dropped when it stops leading
 *                  (NOT_COORDINATOR), and reloaded after a write that failed (its memory is
 *                  then ahead of the log). Every state change is an acks=all produce
 *                  (replicated-generation-dir.ts) before the worker is answered.
 *
 * One instance per broker context, found with `shareCoordinators(ctx)`; handlers ask
 * `shareServiceFor(ctx, groupId)`.
 */
import { logManagerGenerationDir } from '../state-log/generation-log.js';
import { SHARE_STATE_PREFIX } from '../queue/share-state-log.js';
import { SHARE_COORDINATOR_TOPIC } from '../topic-name.js';
import { NotCoordinatorError } from '../group/errors.js';
import type { QueueStats } from '../metrics/broker-metrics.js';
import type { ReplicaRole } from '../replication/replica-manager.js';
import type { BrokerContext } from './context.js';
import { CoordinatorPartitions, leadershipChecks } from './coordinator-partitions.js';
import { replicatedGenerationDir } from './replicated-generation-dir.js';
import { ShareService } from './share-service.js';

const registry = new WeakMap<BrokerContext, ShareCoordinators>();

export class ShareCoordinators {
  /** Cluster mode: the coordinators of the `__share_state` partitions led here (set by startCluster). */
  private partitions: CoordinatorPartitions<ShareService> | undefined;
  private closing = false;

  private constructor(private readonly ctx: BrokerContext, readonly single: ShareService | undefined) {}

  /**
   * Single node: replays the local share state and coordinates every group. Cluster mode
   * (`config.etcd` set): coordinates nothing until `startCluster`.
   */
  static async start(ctx: BrokerContext): Promise<ShareCoordinators> {
    const single = ctx.config.etcd === undefined ? await ShareService.open(ctx, logManagerGenerationDir(ctx.logs, SHARE_STATE_PREFIX)) : undefined;
    const s = new ShareCoordinators(ctx, single);
    s.registerMetrics();
    registry.set(ctx, s);
    return s;
  }

  /**
   * Cluster mode, just before replication starts: coordinates the share groups of every
   * `__share_state` partition this broker leads. The broker passes `roleChanged` to the
   * replica manager's onRoleChange; loads use `ctx.replicas`, set by then.
   */
  startCluster(partitionCount: () => number | undefined, ledHere: (partition: number) => boolean, viewCaughtUp: () => boolean): void {
    const ctx = this.ctx;
    this.partitions = new CoordinatorPartitions<ShareService>({
      partitionCount, ledHere, log: ctx.log,
      ...leadershipChecks(ctx, SHARE_COORDINATOR_TOPIC, viewCaughtUp),
      open: async (p, leaderEpoch, reload) => {
        const rm = ctx.replicas;
        if (!rm) throw new Error('replication is not running');
        return ShareService.open(ctx, replicatedGenerationDir(ctx, rm, SHARE_COORDINATOR_TOPIC, p, leaderEpoch), {
          // Reload from the replica: drop this service and load again if still leader (a
          // no-op once this service is no longer the partition's: it must not drop its successor).
          replicated: { partition: p, onWriteFailed: () => { if (!this.closing) reload(); } },
        });
      },
      close: (s) => s.close(),
      groupCount: (s) => s.coord.groups().length,
    });
  }

  /** ReplicaManager's onRoleChange: `__share_state` partitions load on leader and drop otherwise. */
  roleChanged(topic: string, partition: number, role: ReplicaRole): void {
    if (topic === SHARE_COORDINATOR_TOPIC) this.partitions?.roleChanged(partition, role === 'leader');
  }

  /**
   * The share service coordinating `groupId` on this broker. Throws NOT_COORDINATOR (another
   * broker leads its partition), COORDINATOR_LOAD_IN_PROGRESS (this broker is replaying it)
   * or COORDINATOR_NOT_AVAILABLE (cluster mode only).
   */
  forGroup(groupId: string): ShareService {
    if (this.single) return this.single;
    if (!this.partitions) throw new NotCoordinatorError(groupId, 'replication has not started yet');
    return this.partitions.lookup(groupId);
  }

  /** Every share service running here. */
  services(): ShareService[] {
    if (this.single) return [this.single];
    return this.partitions?.coordinators() ?? [];
  }

  /** Writes the state durably (single node) and stops every service. */
  async close(): Promise<void> {
    this.closing = true;
    await this.single?.close();
    await this.partitions?.close();
  }

  private registerMetrics(): void {
    const self = this;
    this.ctx.metrics.collectQueues(function* (): Iterable<QueueStats> {
      for (const svc of self.services()) {
        const coord = svc.coord;
        for (const id of coord.groups()) {
          const d = coord.describe(id);
          const byTopic = new Map<string, QueueStats>();
          for (const p of d.partitions) {
            let q = byTopic.get(p.topic);
            if (!q) byTopic.set(p.topic, (q = { group: id, topic: p.topic, inFlight: 0, available: 0, delayed: 0, acked: 0, deadLettered: 0, cancelled: 0, oldestUnackedAgeSeconds: 0 }));
            q.inFlight += p.inFlight;
            q.available += p.available + p.backlog;
            q.delayed += p.delayed;
            q.acked += p.acked;
            q.deadLettered += p.deadLettered;
            q.cancelled += p.cancelled;
            q.oldestUnackedAgeSeconds = Math.max(q.oldestUnackedAgeSeconds, p.oldestUnackedMs / 1000);
          }
          yield* byTopic.values();
        }
      }
    });
  }
}

export function shareCoordinators(ctx: BrokerContext): ShareCoordinators {
  const s = registry.get(ctx);
  if (!s) throw new Error('queue mode is not started on this broker');
  return s;
}

/** The share service coordinating `groupId` here; throws NOT_COORDINATOR and friends (see forGroup). */
export function shareServiceFor(ctx: BrokerContext, groupId: string): ShareService {
  return shareCoordinators(ctx).forGroup(groupId);
}

/** For shutdown: closes the share services when they were started on `ctx`. */
export async function stopShareService(ctx: BrokerContext): Promise<void> {
  await registry.get(ctx)?.close();
}
