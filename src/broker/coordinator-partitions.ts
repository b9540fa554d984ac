/**
 * Cluster mode: the coordinators this broker runs, one per partition of a coordinator topic
 * that it leads (docs/cluster.md, "Coordinators"): consumer groups on `__consumer_offsets`
 * (`C` = GroupCoordinator, group-service.ts), share groups on `__share_state` (`C` = the
 * share service of one partition, share-coordinators.ts).
 *
 *   becomes leader   -> the partition is LOADING: its coordinator is rebuilt by replaying the
 *                       local replica (`open`); group requests for it get
 *                       COORDINATOR_LOAD_IN_PROGRESS (retriable) until it is LOADED
 *   stops leading    -> the coordinator is dropped (its store closed); group requests get
 *                       NOT_COORDINATOR and the client asks FindCoordinator again
 *   fenced           -> a loaded coordinator answers only while `refusal` finds this broker
 *                       still leading at the epoch it loaded under with a valid etcd session;
 *                       otherwise NOT_COORDINATOR, before the role change arrives: a broker
 *                       paused past its lease wakes with requests queued and a view that still
 *                       names it leader, while another broker already coordinates the group
 *   load failed      -> COORDINATOR_NOT_AVAILABLE, and the load is tried again after
 *                       `retryMs` while this broker still leads the partition
 *
 * Each load carries a token: a load that finishes after the partition moved on (or was loaded
 * again at a newer epoch) is closed, not installed, and a reload asked for by a coordinator
 * that is no longer the partition's (a dropped one's late failed write) is ignored, so it
 * cannot drop its successor. A load starts only once the coordinator it replaces has closed
 * (its writes in flight ended): the two never run side by side, and the replay sees every
 * write the old one made. Knows no connections.
 */
import { coordinatorPartition } from '../group/coordinator-partition.js';
import { CoordinatorLoadInProgressError, CoordinatorNotAvailableError, NotCoordinatorError } from '../group/errors.js';
import type { Logger } from './logger.js';
import type { BrokerContext } from './context.js';
import { Leadership } from '../replication/replica-manager.js';

export interface CoordinatorPartitionsOptions<C> {
  /**
   * Rebuilds the coordinator of partition `p` from its replica, as its leader at `leaderEpoch`
   * (its writes pinned to it). `reload` drops this coordinator and loads the partition again
   * if this broker still leads it (after a failed write: memory is ahead of the log); it does
   * nothing once this coordinator is no longer the partition's.
   */
  open(partition: number, leaderEpoch: number, reload: () => void): Promise<C>;
  /** Closes a coordinator that is dropped (its store waits for writes in flight). */
  close(coordinator: C): Promise<void>;
  /** How many groups `coordinator` holds (for the load and unload log lines). */
  groupCount(coordinator: C): number;
  /** Partitions of the coordinator topic as etcd holds it; undefined before it exists. */
  partitionCount(): number | undefined;
  /**
   * Whether etcd names this broker the leader of partition `p`. Such a partition whose role
   * change has not reached this broker yet (its local log is still being created, or the
   * replica manager is applying the state) is loading, not elsewhere: FindCoordinator already
   * sends clients here.
   */
  ledHere(partition: number): boolean;
  /** The epoch of this broker's leadership of partition `p` (read when a load starts); undefined when it has none. */
  leaderEpoch(partition: number): number | undefined;
  /**
   * Why the coordinator of partition `p` loaded at `leaderEpoch` may not answer now, or
   * undefined when it may: this broker no longer leads `p` at that epoch, or its etcd
   * session lapsed (the self-fence: the controller may have elected another leader).
   */
  refusal(partition: number, leaderEpoch: number): string | undefined;
  log: Logger;
  /** Delay before a failed load is tried again. Default 1000. */
  retryMs?: number;
}

type Slot<C> =
  | { kind: 'loading'; token: number }
  | { kind: 'loaded'; token: number; coordinator: C; leaderEpoch: number }
  | { kind: 'failed'; token: number; error: string };

export class CoordinatorPartitions<C> {
  private readonly slots = new Map<number, Slot<C>>();
  private token = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Closes of dropped coordinators still running, by partition: the next load waits for them. */
  private readonly closing = new Map<number, Promise<void>>();

  constructor(private readonly opts: CoordinatorPartitionsOptions<C>) {}

  /** The replica manager's role change of coordinator partition `p`. */
  roleChanged(partition: number, leader: boolean): void {
    if (this.closed) return;
    this.drop(partition);
    if (leader) this.load(partition);
  }

  /**
   * The coordinator of `groupId` if it is loaded here; otherwise throws NOT_COORDINATOR,
   * COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE.
   */
  lookup(groupId: string): C {
    const n = this.opts.partitionCount();
    if (n === undefined) throw new NotCoordinatorError(groupId, 'the coordinator topic does not exist yet (FindCoordinator creates it)');
    const p = coordinatorPartition(groupId, n);
    const s = this.slots.get(p);
    if (s === undefined) {
      if (this.opts.ledHere(p)) throw new CoordinatorLoadInProgressError(groupId, p);
      throw new NotCoordinatorError(groupId, `it does not lead coordinator partition ${p}`);
    }
    if (s.kind === 'loading') throw new CoordinatorLoadInProgressError(groupId, p);
    if (s.kind === 'failed') throw new CoordinatorNotAvailableError(`coordinator partition ${p} of group '${groupId}' failed to load (${s.error}); retrying`);
    const why = this.opts.refusal(p, s.leaderEpoch);
    if (why !== undefined) throw new NotCoordinatorError(groupId, why);
    return s.coordinator;
  }

  /** Whether `groupId`'s coordinator is loaded here (no throw). */
  has(groupId: string): C | undefined {
    try {
      return this.lookup(groupId);
    } catch {
      return undefined;
    }
  }

  /** The loaded coordinators. */
  coordinators(): C[] {
    const out: C[] = [];
    for (const s of this.slots.values()) if (s.kind === 'loaded') out.push(s.coordinator);
    return out;
  }

  /** Partitions led here and their state, for logs and tests. */
  states(): Map<number, Slot<C>['kind']> {
    return new Map([...this.slots].map(([p, s]) => [p, s.kind]));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    const all = this.coordinators();
    this.slots.clear();
    await Promise.all([...all.map((c) => this.opts.close(c).catch(() => {})), ...this.closing.values()]);
  }

  private load(p: number): void {
    const token = ++this.token;
    this.slots.set(p, { kind: 'loading', token });
    const started = Date.now();
    const leaderEpoch = this.opts.leaderEpoch(p);
    this.opts.log.info('coordinator partition loading', { partition: p, leaderEpoch });
    const reload = () => {
      if (this.closed || this.slots.get(p)?.token !== token) return;
      this.drop(p);
      if (this.opts.ledHere(p)) this.load(p);
    };
    const previous = this.closing.get(p) ?? Promise.resolve();
    const opened = leaderEpoch === undefined
      ? Promise.reject(new Error(`this broker's leadership of coordinator partition ${p} ended before its load started`))
      // The replaced coordinator first: its last writes end (or fail) before the replay reads the log.
      : previous.then(() => {
        if (this.slots.get(p)?.token !== token || this.closed) throw new Error(`coordinator partition ${p} moved on before its load started`);
        return this.opts.open(p, leaderEpoch, reload);
      });
    opened.then((coordinator) => {
      if (this.slots.get(p)?.token !== token || this.closed) {
        // A load overtaken by a drop or a newer load: its coordinator is closed like a dropped
        // one, so the newer load waits for it (it may have ticked and written meanwhile).
        this.closeTracked(p, coordinator);
        return;
      }
      this.slots.set(p, { kind: 'loaded', token, coordinator, leaderEpoch: leaderEpoch! });
      this.opts.log.info('coordinator partition loaded', { partition: p, groups: this.opts.groupCount(coordinator), ms: Date.now() - started });
    }, (err: unknown) => {
      if (this.slots.get(p)?.token !== token || this.closed) return;
      const error = err instanceof Error ? err.message : String(err);
      this.slots.set(p, { kind: 'failed', token, error });
      this.opts.log.warn('coordinator partition load failed; retrying', { partition: p, error });
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.slots.get(p)?.token === token) this.load(p);
      }, this.opts.retryMs ?? 1000);
      this.timers.add(t);
    });
  }

  private drop(p: number): void {
    const s = this.slots.get(p);
    if (s === undefined) return;
    this.slots.delete(p);
    if (s.kind === 'loaded') {
      this.opts.log.info('coordinator partition unloaded', { partition: p, groups: this.opts.groupCount(s.coordinator) });
      this.closeTracked(p, s.coordinator);
    }
  }

  /**
   * Closes a coordinator of partition `p` such that the next load of `p`, and close(), wait
   * for it: never two coordinators of one partition side by side.
   */
  private closeTracked(p: number, coordinator: C): void {
    const closed = this.opts.close(coordinator).catch((err: unknown) => { this.opts.log.warn('closing a coordinator failed', { partition: p, error: err }); });
    const all = (this.closing.get(p) ?? Promise.resolve()).then(() => closed);
    this.closing.set(p, all);
    void all.then(() => { if (this.closing.get(p) === all) this.closing.delete(p); });
  }
}

/**
 * The `leaderEpoch` and `refusal` options for the coordinators of `topic`'s partitions, from
 * the replica manager (the same fence for consumer groups and share groups).
 * `viewCaughtUp`: ClusterNode.viewCaughtUp, whether the view has every change up to this
 * session's registration.
 */
export function leadershipChecks(ctx: BrokerContext, topic: string, viewCaughtUp: () => boolean): Pick<CoordinatorPartitionsOptions<unknown>, 'leaderEpoch' | 'refusal'> {
  return {
    leaderEpoch: (p) => {
      const l = ctx.replicas?.leaderFor(topic, p);
      return l instanceof Leadership ? l.leaderEpoch : undefined;
    },
    refusal: (p, epoch) => {
      const l = ctx.replicas?.leaderFor(topic, p, epoch, true);
      if (l === undefined) return 'replication is not running';
      if (!(l instanceof Leadership)) return l.message;
      // Re-registered after losing its session: the view may still show leaderships the
      // controller gave away meanwhile (valid session, stale view) until the watch catches up.
      return viewCaughtUp() ? undefined : 'this broker re-registered with etcd and its view has not caught up yet';
    },
  };
}
