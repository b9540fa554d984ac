/**
 * The replica roles of this broker's partitions, and the leader side of replication (Kafka's
 * ReplicaManager and Partition, docs/cluster.md "Replication"). For each partition whose
 * state (from etcd, through the cluster view) places a replica here and whose log exists
 * locally, it applies the state:
 *
 *   - LEADER when the state names this broker: the epoch is recorded at the log end in the
 *     log's leader-epoch cache (Kafka's makeLeader, so OffsetsForLeaderEpoch answers for it
 *     before the first append), and a fresh LeaderReplicaState (cluster/replica-progress.ts)
 *     tracks the followers' log ends, the high watermark and the ISR, every follower with a
 *     fresh lag clock (no one leaves the ISR for time that passed before this broker led);
 *   - FOLLOWER when another broker leads: the Follower (replication/types.ts) copies it,
 *     restarted only when the leader or the epoch changed;
 *   - NONE when the partition is offline (leader -1) or not placed here.
 *
 * Applies for one partition run one at a time, in the order the states arrived (a role change
 * awaits the follower's unfollow and the leader's appends in flight). A state with a lower
 * leader epoch than the one applied, or an older mod revision at the same epoch, is stale and
 * ignored.
 *
 * The ISR is the leader's to change (Kafka's maybeShrinkIsr / maybeExpandIsr): a timer every
 * replicaLagTimeMs / 2 removes followers that have not caught up for replicaLagTimeMs; a
 * follower outside the ISR that caught up is added back on its fetch. Each change is written
 * to etcd first, by compare-and-swap on the key's mod revision (the write keeps leader and
 * epoch), and takes effect only once written: a new leader is always elected from an ISR that
 * held every acknowledged record. A lost compare-and-swap means the state moved on (the
 * controller changed it): the manager re-applies what the view holds. A leader whose etcd
 * session is not valid (self-fenced) writes nothing and accepts no produce, unless the
 * failsafe (cluster/failsafe.ts) says every other broker granted it; and a leadership gained
 * after this broker granted another's failsafe check acknowledges nothing until that promise
 * ran out.
 *
 * Knows storage and cluster state; no sockets, no broker handlers: those call it through
 * `leaderFor`, `append`, `acksAll`, `followerFetched` and `highWatermark`.
 */
import type { StoredPartitionState } from '../cluster/partition-state-store.js';
import { NO_LEADER, withIsr, type PartitionState } from '../cluster/partition-state.js';
import { LeaderReplicaState, type AcksAllState } from '../cluster/replica-progress.js';
import type { WireErrorName } from '../errors.js';
import { tpKey } from '../protocol/topic-partition.js';
import type { AppendResult, PartitionLog } from '../storage/types.js';
import { SILENT_REPLICATION_LOGGER, type ReplicationLogger } from './logger.js';
import type { Follower } from './types.js';

type StateListener = (topic: string, partition: number, state: StoredPartitionState | undefined) => void;

/** What the manager reads of the cluster view (ClusterView fits); tests feed states through one of their own. */
export interface PartitionStateSource {
  partition(topic: string, partition: number): StoredPartitionState | undefined;
  partitions(): Iterable<StoredPartitionState>;
  on(event: 'partition', fn: StateListener): unknown;
  off(event: 'partition', fn: StateListener): unknown;
}

/** Replication's counters; BrokerMetrics fits. */
export interface ReplicationMetrics {
  isrShrunk(): void;
  isrExpanded(): void;
}

export interface ReplicaManagerOptions {
  readonly nodeId: number;
  readonly states: PartitionStateSource;
  /** The local log of a partition, undefined while it does not exist here (call `refresh` once it does). */
  log(topic: string, partition: number): PartitionLog | undefined;
  readonly follower: Follower;
  /** Compare-and-swap of the partition's state (casPartitionState): the new mod revision, or undefined when the key moved on. */
  writeIsr(expected: StoredPartitionState, next: PartitionState): Promise<number | undefined>;
  /** Whether this broker's etcd session is valid now (EtcdSession.isValid: the self-fence). */
  sessionValid(): boolean;
  /**
   * Why this broker may lead nothing now, or undefined when it may: its broker epoch is not the
   * one the controller handled last (ClusterNode.epochHandled, KIP-380). A state naming it
   * leader is then applied as no role (no leadership, no follow) until the owner calls
   * `refresh()` once it is handled. Absent: never fenced.
   */
  leadershipFenced?(): string | undefined;
  readonly replicaLagTimeMs: number;
  /** The topic's minInsyncReplicas (topic config; 1 when unset). */
  minInsyncReplicas(topic: string): number;
  /** Milliseconds, for the followers' lag clocks; Date.now by default. */
  now?: () => number;
  /**
   * A partition's high watermark moved, or its role changed: what waits on it (consumer
   * fetches, acks=all produces) must look again. The broker wakes its purgatory here.
   */
  onHighWatermark?: (topic: string, partition: number) => void;
  metrics?: ReplicationMetrics;
  /**
   * This broker's role of a partition changed, or it leads it under a new leadership (a new
   * epoch): told after the change took effect. The group coordinators load a coordinator
   * partition on `leader` and drop it on anything else (broker/group-service.ts).
   */
  onRoleChange?: (topic: string, partition: number, role: ReplicaRole) => void;
  /** Silent unless given. */
  logger?: ReplicationLogger;
  /** Failsafe mode (cluster/failsafe.ts; `Failsafe` fits). Absent: the self-fence alone decides. */
  failsafe?: FailsafeGate;
  /**
   * The high watermark this broker's replica of a partition had in its previous life (the
   * checkpoint file, replication/high-watermark-checkpointer.ts), asked once, when the
   * partition first gets a role in this process: a restarted leader starts from it (bounded by
   * its log end), not from the log start. Absent: every partition starts as without one.
   */
  checkpointedHighWatermark?(topic: string, partition: number): number | undefined;
  /** Run the ISR check on a timer (replicaLagTimeMs / 2). Default true; tests that drive the clock call checkIsr(). */
  isrTimer?: boolean;
}

export type ReplicaRole = 'leader' | 'follower' | 'none';

/** What the manager asks of failsafe mode; every time on the gate's own monotonic clock. */
export interface FailsafeGate {
  now(): number;
  /** Whether a leader whose etcd session is not valid may acknowledge now (every other broker granted). */
  writable(now: number): boolean;
  /** Whether a leadership gained at `gainedAt` must not acknowledge yet (a promise given before it still runs). */
  held(gainedAt: number, now: number): boolean;
}

/** A request this broker cannot serve for a partition, as a wire error name and why. */
export interface Refusal {
  readonly error: WireErrorName;
  readonly message: string;
}

/**
 * One leadership: this broker leading `topic`-`partition` at `leaderEpoch`. A handler holds
 * it across an append or a wait; `ReplicaManager.isCurrent` tells whether it still leads.
 */
export class Leadership {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly leaderEpoch: number,
    readonly log: PartitionLog,
    readonly progress: LeaderReplicaState,
    /** When this broker became leader, on the failsafe gate's clock (0 without one). */
    readonly gainedAt = 0,
  ) {}

  get highWatermark(): number {
    return this.progress.highWatermark;
  }
}

interface Replica {
  readonly topic: string;
  readonly partition: number;
  /** The state applied last: the compare-and-swap token of the leader's ISR writes. */
  stored: StoredPartitionState | undefined;
  role: ReplicaRole;
  /** Leader and epoch being followed (role follower). */
  leaderId: number;
  epoch: number;
  log: PartitionLog | undefined;
  leadership: Leadership | undefined;
  /** Applies of this partition, one at a time. */
  chain: Promise<void>;
  isrWriting: boolean;
  /** Followed under the reassignment throttle (this replica is being added). */
  throttled?: boolean;
  /** The leader's appends in flight: a leader that becomes a follower waits for them before the follower appends. */
  readonly appends: Set<Promise<unknown>>;
  /** Whether the checkpointed high watermark was asked for (at the first role in this process). */
  checkpointAsked: boolean;
}

/** One follower of a partition this broker leads, for sluice_replica_lag_messages. */
export interface FollowerLag {
  topic: string;
  partition: number;
  replica: number;
  /** Leader log end offset - the follower's (as of its last fetch). */
  lagMessages: number;
}

/** Cluster mode: the replication state of the partitions this broker leads. */
export interface ReplicationStats {
  /** Led partitions whose ISR is smaller than their replica set. */
  underReplicatedPartitions: number;
  followers: FollowerLag[];
}

const noop = (): void => {};

export class ReplicaManager {
  private readonly replicas = new Map<string, Replica>();
  private readonly now: () => number;
  private readonly hwMoved: (topic: string, partition: number) => void;
  private readonly logger: ReplicationLogger;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private readonly listener: StateListener = (topic, partition, state) => { this.enqueue(topic, partition, state); };

  constructor(private readonly opts: ReplicaManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.hwMoved = opts.onHighWatermark ?? noop;
    this.logger = opts.logger ?? SILENT_REPLICATION_LOGGER;
  }

  get nodeId(): number {
    return this.opts.nodeId;
  }

  /** Subscribes to state changes, applies every state known now, and starts the ISR timer. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.states.on('partition', this.listener);
    for (const s of this.opts.states.partitions()) this.enqueue(s.topic, s.partition, s);
    if (this.opts.isrTimer !== false) {
      this.timer = setInterval(() => { void this.checkIsr(); }, Math.max(1, Math.floor(this.opts.replicaLagTimeMs / 2)));
      this.timer.unref();
    }
  }

  /** Re-applies the view's state of `topic`'s partitions (every partition when omitted): call it once local logs were created. */
  refresh(topic?: string): void {
    for (const s of this.opts.states.partitions()) if (topic === undefined || s.topic === topic) this.enqueue(s.topic, s.partition, s);
  }

  /** Resolves once every apply queued so far has run. */
  async settled(): Promise<void> {
    for (;;) {
      const chains = [...this.replicas.values()].map((r) => r.chain);
      await Promise.all(chains);
      if ([...this.replicas.values()].every((r, i) => r.chain === chains[i])) return;
    }
  }

  /** Stops applying states and checking the ISR; the follower is its owner's to stop. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.states.off('partition', this.listener);
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.settled();
  }

  role(topic: string, partition: number): ReplicaRole {
    return this.replicas.get(tpKey(topic, partition))?.role ?? 'none';
  }

  /**
   * The leadership a request for `topic`-`partition` may use, or why not. `currentLeaderEpoch`
   * (absent or -1: not checked) is the epoch the sender believes in: older than this broker's
   * is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH (Kafka checks the epoch before the role).
   * `forWrite`: a produce, refused while this broker's etcd session is not valid.
   */
  leaderFor(topic: string, partition: number, currentLeaderEpoch?: number, forWrite = false): Leadership | Refusal {
    const r = this.replicas.get(tpKey(topic, partition));
    const known = r?.stored ?? this.opts.states.partition(topic, partition);
    if (known === undefined) return { error: 'UNKNOWN_TOPIC_OR_PARTITION', message: `unknown partition ${topic}-${partition}` };
    const epoch = known.state.leaderEpoch;
    if (currentLeaderEpoch !== undefined && currentLeaderEpoch >= 0 && currentLeaderEpoch !== epoch) {
      return currentLeaderEpoch < epoch
        ? { error: 'FENCED_LEADER_EPOCH', message: `leader epoch ${currentLeaderEpoch} of ${topic}-${partition} is older than ${epoch}` }
        : { error: 'UNKNOWN_LEADER_EPOCH', message: `leader epoch ${currentLeaderEpoch} of ${topic}-${partition} is newer than ${epoch} known here` };
    }
    const l = r?.leadership;
    if (l === undefined) {
      return { error: 'NOT_LEADER_OR_FOLLOWER', message: `broker ${this.opts.nodeId} does not lead ${topic}-${partition} (leader ${known.state.leader}, epoch ${epoch})` };
    }
    if (forWrite) {
      const why = this.writeRefusal(l);
      if (why !== undefined) return { error: 'NOT_LEADER_OR_FOLLOWER', message: why };
    }
    return l;
  }

  /**
   * Why leadership `l` may not acknowledge a write now, or undefined when it may: the
   * self-fence (no valid etcd session and no full failsafe grant), or a failsafe promise this
   * broker gave before it gained `l`.
   */
  private writeRefusal(l: Leadership): string | undefined {
    // Before the next apply drops the leadership: nothing is acknowledged meanwhile.
    const fenced = this.opts.leadershipFenced?.();
    if (fenced !== undefined) return fenced;
    const g = this.opts.failsafe;
    const now = g?.now() ?? 0;
    if (g?.held(l.gainedAt, now)) {
      return `broker ${this.opts.nodeId} promised another leader's failsafe check not to start leading ${l.topic}-${l.partition} yet; retry`;
    }
    if (this.opts.sessionValid() || g?.writable(now)) return undefined;
    return `broker ${this.opts.nodeId} has no valid etcd session and accepts no writes (self-fenced)`;
  }

  /**
   * The end of what is committed of `topic`-`partition` as this broker knows it: the
   * leader's high watermark, or the one a follower last heard from its leader (never above
   * the leader's, so everything below it survives any failover); undefined while this broker
   * has no role for it. For readers of the local replica that must not hand out what a
   * failover could take back (the share coordinator, docs/cluster.md "Coordinators").
   */
  committedEnd(topic: string, partition: number): number | undefined {
    const r = this.replicas.get(tpKey(topic, partition));
    if (r?.leadership !== undefined) return r.leadership.highWatermark;
    if (r?.role === 'follower') return this.opts.follower.highWatermark(topic, partition);
    return undefined;
  }

  /** Whether `l` is still this broker's leadership of its partition. */
  isCurrent(l: Leadership): boolean {
    return this.replicas.get(tpKey(l.topic, l.partition))?.leadership === l;
  }

  /** Appends as the leader at its epoch (stamped into every batch), and moves the leader's log end. */
  async append(l: Leadership, records: Buffer, durable: boolean): Promise<AppendResult> {
    const r = this.replicas.get(tpKey(l.topic, l.partition))!;
    const p = l.log.append(records, durable ? { leaderEpoch: l.leaderEpoch, durable: true } : { leaderEpoch: l.leaderEpoch });
    r.appends.add(p);
    try {
      const res = await p;
      // The log's end, not this append's: concurrent durable appends may resolve out of order.
      if (r.leadership === l && l.progress.onLeaderAppend(l.log.logEndOffset)) this.hwMoved(l.topic, l.partition);
      return res;
    } finally {
      r.appends.delete(p);
    }
  }

  /** Where an acks=all produce up to `lastOffset` stands; 'not-leader' once `l` is no longer current or the session is not valid. */
  acksAll(l: Leadership, lastOffset: number): AcksAllState | 'not-leader' {
    if (!this.isCurrent(l) || this.writeRefusal(l) !== undefined) return 'not-leader';
    return l.progress.acksAll(lastOffset, this.opts.minInsyncReplicas(l.topic));
  }

  /**
   * Follower `replicaId` fetched from `offset` (so it holds everything below it): its progress
   * may move the high watermark, or let it rejoin the ISR (written to etcd first, not awaited).
   */
  followerFetched(l: Leadership, replicaId: number, offset: number): Refusal | undefined {
    const r = this.replicas.get(tpKey(l.topic, l.partition));
    if (r === undefined || r.leadership !== l) return { error: 'NOT_LEADER_OR_FOLLOWER', message: `broker ${this.opts.nodeId} no longer leads ${l.topic}-${l.partition}` };
    const replicas = r.stored!.state.replicas;
    if (replicaId === this.opts.nodeId || !replicas.includes(replicaId)) {
      return { error: 'NOT_LEADER_OR_FOLLOWER', message: `broker ${replicaId} holds no replica of ${l.topic}-${l.partition} (replicas ${replicas.join(', ')})` };
    }
    // Past the log end the read answers OFFSET_OUT_OF_RANGE: that is not a log end this follower holds.
    if (offset > l.log.logEndOffset) return undefined;
    if (l.progress.onFollowerFetch(replicaId, offset, this.now())) this.hwMoved(l.topic, l.partition);
    if (l.progress.caughtUpReplicas().includes(replicaId)) {
      void this.changeIsr(r, l, [...l.progress.isr, replicaId], 'expand');
    }
    return undefined;
  }

  /**
   * One ISR check (the timer's): every led partition drops the followers that have not caught
   * up for replicaLagTimeMs. Resolves once the writes it started are done.
   */
  async checkIsr(): Promise<void> {
    const now = this.now();
    const writes: Promise<void>[] = [];
    for (const r of this.replicas.values()) {
      const l = r.leadership;
      if (l === undefined) continue;
      const lagging = l.progress.laggingReplicas(now, this.opts.replicaLagTimeMs);
      if (lagging.length === 0) continue;
      writes.push(this.changeIsr(r, l, l.progress.isr.filter((b) => !lagging.includes(b)), 'shrink'));
    }
    await Promise.all(writes);
  }

  /** Scrape-time numbers: under-replicated led partitions and each follower's lag. */
  stats(): ReplicationStats {
    let underReplicatedPartitions = 0;
    const followers: FollowerLag[] = [];
    for (const r of this.replicas.values()) {
      const l = r.leadership;
      if (l === undefined || r.stored === undefined) continue;
      if (l.progress.isr.length < r.stored.state.replicas.length) underReplicatedPartitions++;
      const leo = l.progress.leaderLogEndOffset;
      for (const [replica, end] of l.progress.followerLogEndOffsets()) {
        followers.push({ topic: r.topic, partition: r.partition, replica, lagMessages: Math.max(0, leo - Math.max(end, 0)) });
      }
    }
    return { underReplicatedPartitions, followers };
  }

  /**
   * Each partition's high watermark as this broker knows it now (the leader's, or the one a
   * follower last heard; none while unknown): what the checkpoint file keeps for a restart.
   */
  highWatermarks(): { topic: string; partition: number; highWatermark: number }[] {
    const out: { topic: string; partition: number; highWatermark: number }[] = [];
    for (const r of this.replicas.values()) {
      const hw = this.committedEnd(r.topic, r.partition);
      if (hw !== undefined && hw >= 0) out.push({ topic: r.topic, partition: r.partition, highWatermark: hw });
    }
    return out;
  }

  // --- applying states ------------------------------------------------------------

  private replica(topic: string, partition: number): Replica {
    const k = tpKey(topic, partition);
    let r = this.replicas.get(k);
    if (r === undefined) {
      r = {
        topic, partition, stored: undefined, role: 'none', leaderId: NO_LEADER, epoch: -1, log: undefined, leadership: undefined,
        chain: Promise.resolve(), isrWriting: false, appends: new Set(), checkpointAsked: false,
      };
      this.replicas.set(k, r);
    }
    return r;
  }

  private enqueue(topic: string, partition: number, state: StoredPartitionState | undefined): void {
    if (this.stopped) return;
    const r = this.replica(topic, partition);
    r.chain = r.chain.then(() => this.apply(r, state)).catch((err: unknown) => {
      this.logger.error('replication.state-not-applied', { topic, partition, error: (err as Error).message });
    });
  }

  private async apply(r: Replica, s: StoredPartitionState | undefined): Promise<void> {
    const cur = r.stored;
    if (s !== undefined && cur !== undefined) {
      const e = s.state.leaderEpoch;
      const ce = cur.state.leaderEpoch;
      if (e < ce || (e === ce && s.modRevision < cur.modRevision)) {
        this.logger.info('replication.stale-state-ignored', { topic: r.topic, partition: r.partition, epoch: e, appliedEpoch: ce });
        return;
      }
    }
    const log = this.opts.log(r.topic, r.partition);
    const st = s?.state;
    const before = { role: r.role, leadership: r.leadership };
    if (st === undefined || log === undefined || !st.replicas.includes(this.opts.nodeId) || st.leader === NO_LEADER) {
      await this.becomeNone(r);
      r.stored = s;
      // A deleted topic's checkpoint is not a re-created one's.
      if (st === undefined) r.checkpointAsked = true;
    } else if (st.leader === this.opts.nodeId && this.opts.leadershipFenced?.() !== undefined) {
      // Not as leader at an epoch the controller may be taking away right now (a restart or a
      // re-registration it has not handled): nothing, until refresh() applies it again.
      const why = this.opts.leadershipFenced()!;
      if (r.role !== 'none' || r.stored?.modRevision !== s!.modRevision) {
        this.logger.info('replication.leadership-fenced', { topic: r.topic, partition: r.partition, epoch: st.leaderEpoch, reason: why });
      }
      await this.becomeNone(r);
      r.stored = s;
    } else if (st.leader === this.opts.nodeId) {
      await this.becomeLeader(r, s!, log);
    } else {
      await this.becomeFollower(r, s!, log);
    }
    if (r.role !== before.role || r.leadership !== before.leadership) this.opts.onRoleChange?.(r.topic, r.partition, r.role);
  }

  private async becomeLeader(r: Replica, s: StoredPartitionState, log: PartitionLog): Promise<void> {
    const st = s.state;
    const prev = r.leadership;
    if (prev !== undefined && prev.leaderEpoch === st.leaderEpoch && prev.log === log) {
      // The same leadership: an ISR change (this leader's own write coming back through the
      // watch, or the controller dropping a dead follower), or a reassignment adding or
      // dropping replicas: the new followers' fetches must count.
      r.stored = s;
      prev.progress.setReplicas(st.replicas, this.now());
      if (st.isr.includes(this.opts.nodeId) && !sameMembers(prev.progress.isr, st.isr) && prev.progress.setIsr(st.isr)) {
        this.hwMoved(r.topic, r.partition);
      }
      return;
    }
    let hw = this.checkpointed(r, log);
    if (r.role === 'follower') {
      hw = Math.max(hw, this.opts.follower.highWatermark(r.topic, r.partition));
      r.role = 'none';
      await this.opts.follower.unfollow(r.topic, r.partition);
    } else if (prev !== undefined) {
      hw = Math.max(hw, prev.highWatermark);
      this.leave(r);
    }
    await log.assignLeaderEpoch(st.leaderEpoch);
    const leo = log.logEndOffset;
    const progress = new LeaderReplicaState(this.opts.nodeId, st.replicas, st.isr, {
      nowMs: this.now(), leaderLogEndOffset: leo, highWatermark: Math.min(leo, Math.max(hw, log.logStartOffset)), leaderEpochStartOffset: leo,
    });
    // An ISR of the leader alone: the high watermark is its log end at once.
    progress.onLeaderAppend(leo);
    r.stored = s;
    r.log = log;
    r.role = 'leader';
    r.leaderId = this.opts.nodeId;
    r.epoch = st.leaderEpoch;
    r.leadership = new Leadership(r.topic, r.partition, st.leaderEpoch, log, progress, this.opts.failsafe?.now() ?? 0);
    this.logger.info('replication.became-leader', { topic: r.topic, partition: r.partition, epoch: st.leaderEpoch, logEndOffset: leo, highWatermark: progress.highWatermark });
    this.hwMoved(r.topic, r.partition);
  }

  private async becomeFollower(r: Replica, s: StoredPartitionState, log: PartitionLog): Promise<void> {
    const st = s.state;
    r.stored = s;
    const throttled = st.addingReplicas?.includes(this.opts.nodeId) === true;
    // A new follow only for a new leader or epoch, or when a reassignment adding this replica ends (its throttle lifts).
    if (r.role === 'follower' && r.leaderId === st.leader && r.epoch === st.leaderEpoch && r.log === log && r.throttled === throttled) return;
    // What this replica knew committed: a leader's own high watermark, else its checkpoint.
    const hw = Math.max(this.checkpointed(r, log), r.leadership?.highWatermark ?? 0);
    if (r.leadership !== undefined) {
      this.leave(r);
      // The follower appends from the new leader's offsets: no append of this broker's may still be on its way.
      await Promise.allSettled([...r.appends]);
    }
    r.role = 'follower';
    r.leaderId = st.leader;
    r.epoch = st.leaderEpoch;
    r.log = log;
    this.logger.info('replication.became-follower', { topic: r.topic, partition: r.partition, leader: st.leader, epoch: st.leaderEpoch });
    r.throttled = throttled;
    this.opts.follower.follow({
      topic: r.topic, partition: r.partition, leaderId: st.leader, leaderEpoch: st.leaderEpoch, log,
      ...(throttled ? { throttled } : {}), ...(hw > 0 ? { highWatermark: hw } : {}),
    });
  }

  /**
   * The checkpointed high watermark of `r`'s previous life, bounded by the log end, the first
   * time `r` gets a role in this process; 0 after that or when there is none. A high watermark
   * once reached stays a lower bound of what is committed (nothing committed is taken back,
   * and an ISR member holds all of it), so a restarted replica may start from it.
   */
  private checkpointed(r: Replica, log: PartitionLog): number {
    if (r.checkpointAsked) return 0;
    r.checkpointAsked = true;
    const hw = this.opts.checkpointedHighWatermark?.(r.topic, r.partition);
    return hw === undefined ? 0 : Math.max(0, Math.min(hw, log.logEndOffset));
  }

  private async becomeNone(r: Replica): Promise<void> {
    if (r.role === 'follower') {
      r.role = 'none';
      await this.opts.follower.unfollow(r.topic, r.partition);
    } else if (r.leadership !== undefined) {
      this.leave(r);
    }
    r.leaderId = NO_LEADER;
    r.epoch = -1;
  }

  /** Stops leading: requests holding the leadership see it is gone once woken. */
  private leave(r: Replica): void {
    r.leadership = undefined;
    r.role = 'none';
    this.hwMoved(r.topic, r.partition);
  }

  /** Writes the ISR `isr` for leadership `l` (compare-and-swap), then makes it take effect. */
  private async changeIsr(r: Replica, l: Leadership, isr: number[], kind: 'shrink' | 'expand'): Promise<void> {
    const expected = r.stored;
    if (r.isrWriting || r.leadership !== l || expected === undefined || !this.opts.sessionValid()) return;
    let next: PartitionState;
    try {
      next = withIsr(expected.state, isr);
    } catch (err) {
      this.logger.error('replication.isr.change-refused', { topic: r.topic, partition: r.partition, isr, error: (err as Error).message });
      return;
    }
    r.isrWriting = true;
    try {
      const rev = await this.opts.writeIsr(expected, next);
      if (rev === undefined) {
        // The key moved on (the controller changed the state): decide again from what the view holds.
        this.logger.info('replication.isr.write-lost', { topic: r.topic, partition: r.partition, isr: next.isr });
        this.enqueue(r.topic, r.partition, this.opts.states.partition(r.topic, r.partition));
        return;
      }
      if (kind === 'shrink') this.opts.metrics?.isrShrunk();
      else this.opts.metrics?.isrExpanded();
      this.logger.info(kind === 'shrink' ? 'ISR shrunk' : 'ISR expanded', { topic: r.topic, partition: r.partition, from: expected.state.isr, to: next.isr });
      // Applied meanwhile (the watch brought this write, or a newer state, first): nothing left to do.
      if (r.stored !== expected || r.leadership !== l) return;
      r.stored = { ...expected, state: next, modRevision: rev };
      if (l.progress.setIsr(next.isr)) this.hwMoved(r.topic, r.partition);
    } catch (err) {
      this.logger.warn('replication.isr.write-failed', { topic: r.topic, partition: r.partition, error: (err as Error).message });
    } finally {
      r.isrWriting = false;
    }
  }
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
