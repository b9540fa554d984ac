/**
 * The group coordinator: every group on this broker, the topic metadata they resolve
 * subscriptions against, liveness (session and revocation timeouts) and the offset store.
 * No network here; the broker turns requests into these calls and thrown or returned
 * SluiceErrors into wire errors (toWireError). Requests arrive checked against their
 * schema (protocol/api-table.ts): field types and ranges are not checked again here.
 *
 * Time is injected: `tick(now)` removes members whose deadlines passed and expires
 * offsets; the broker calls it on a timer (e.g. every second, or at `nextDeadline()`).
 * The broker must call `onTopicsChanged` at start and after every topic create, delete or
 * partition change, or subscriptions resolve to nothing.
 *
 * Single broker: membership is in memory only: after a restart members get
 * UNKNOWN_MEMBER_ID on their next heartbeat and rejoin with epoch 0. Offsets and "empty
 * since" times are durable. Cluster mode (`persistMembership`): each change of a group's
 * membership (member epochs, assignments, target) is written to the store as one record, and
 * `membershipDurable` resolves once what a heartbeat answered is durable, so a new coordinator
 * (built over the same store) continues the group: a member it knows at its epoch keeps its
 * partitions; any other epoch is FENCED_MEMBER_EPOCH, an unknown id UNKNOWN_MEMBER_ID.
 */
import { pack, unpack } from 'msgpackr';
import { SluiceError } from '../errors.js';
import { StorageError } from '../storage/errors.js';
import { assignorByName, DEFAULT_ASSIGNOR } from './assignors.js';
import {
  GroupIdNotFoundError, GroupSubscribedToTopicError, InvalidGroupIdError, InvalidSessionTimeoutError,
  NonEmptyGroupError, UnknownMemberIdError,
} from './errors.js';
import { ConsumerGroup, type GroupConfig, type HeartbeatInput, type HeartbeatOutput, type MemberDescription } from './group.js';
import { CommitOrder } from './commit-order.js';
import type { CommittedOffset, OffsetCommitEntry, OffsetStore } from './offset-store.js';
import { checkPersistedGroup, PERSISTED_MEMBERSHIP_VERSION, type RestoreWarning } from './persisted-membership.js';
import { systemClock, type Clock, type GroupState, type TopicPartition } from './types.js';

export interface CoordinatorOptions {
  clock?: Clock;
  /** A member that sends no heartbeat for this long is removed. Default 45000. */
  sessionTimeoutMs?: number;
  /** Told to members: how often to heartbeat. Default 3000. */
  heartbeatIntervalMs?: number;
  /** Told to members while their group is not Stable (see GroupConfig). Default 50. */
  reconcileHeartbeatIntervalMs?: number;
  /** Bounds on a member's own sessionTimeoutMs (INVALID_SESSION_TIMEOUT outside). Default 1000..1800000. */
  minSessionTimeoutMs?: number;
  maxSessionTimeoutMs?: number;
  /**
   * Called once per group epoch bump: metrics, the rebalance log line, and the rebalance
   * push to `changed`, the members whose target assignment changed.
   */
  onEpochBump?: (groupId: string, epoch: number, members: number, changed: readonly string[]) => void;
  /** How long a member may take to give partitions up when it sends no own value. Default 300000. */
  rebalanceTimeoutMs?: number;
  /** Server-side assignor for every group: sticky (default), range or roundrobin. */
  assignor?: string;
  /** Offsets of a group expire this long after it became empty. Default 7 days. */
  offsetsRetentionMs?: number;
  /** Id for a member joining with memberId ''. Default crypto.randomUUID. */
  newMemberId?: () => string;
  /** Failures of background writes ("empty since" bookkeeping); they never fail a heartbeat. */
  onBackgroundError?: (err: unknown) => void;
  /** A persisted membership field that was invalid at restore and skipped or replaced (persisted-membership.ts). */
  onRestoreWarning?: (w: RestoreWarning) => void;
  /**
   * Cluster mode: persist every membership change to the store and restore the groups the
   * store holds at construction (docs/cluster.md, "Coordinators"). Default false.
   */
  persistMembership?: boolean;
  /** `auth: scram`: whether a user may read a topic; pattern subscriptions resolve only to those (GroupConfig.topicAccess). */
  topicAccess?: (principal: string, topic: string) => boolean;
  /** `auth: scram`: whether a user may read a group; a member whose user may not is fenced (GroupConfig.groupAccess). */
  groupAccess?: (principal: string, group: string) => boolean;
}

export interface PartitionResult {
  topic: string;
  partition: number;
  error?: SluiceError;
}

export interface GroupDescription {
  groupId: string;
  error?: SluiceError;
  state: GroupState;
  groupEpoch: number;
  targetEpoch: number;
  assignor: string;
  members: MemberDescription[];
  offsets?: CommittedOffset[];
}

export interface GroupListing {
  groupId: string;
  state: GroupState;
  groupEpoch: number;
  members: number;
}

const MAX_GROUP_ID_LENGTH = 255;

function checkGroupId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_GROUP_ID_LENGTH) throw new InvalidGroupIdError(id);
}

export class GroupCoordinator {
  private readonly groups = new Map<string, ConsumerGroup>();
  private topics: ReadonlyMap<string, number> = new Map();
  private readonly clock: Clock;
  private readonly config: GroupConfig;
  private readonly retentionMs: number;
  private readonly minSessionMs: number;
  private readonly maxSessionMs: number;
  private readonly onBackgroundError: (err: unknown) => void;
  /** Last "empty since" value handed to the store per group, so each change is written once. */
  private readonly persistedEmpty = new Map<string, number | null>();
  private readonly persistMembers: boolean;
  /** Last packed membership handed to the store per group, so each change is written once. */
  private readonly persistedMembers = new Map<string, Buffer>();
  /** The newest membership write per group still in flight (the store writes in order). */
  private readonly membershipWrites = new Map<string, Promise<void>>();
  /** Per group and partition, the newest accepted commit of a member still being written (commit-order.ts). */
  private readonly order = new CommitOrder();

  constructor(readonly store: OffsetStore, opts: CoordinatorOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    const assignorName = opts.assignor ?? DEFAULT_ASSIGNOR;
    this.config = {
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 45_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeoutMs: opts.rebalanceTimeoutMs ?? 300_000,
      assignorName,
      assignor: assignorByName(assignorName),
      newMemberId: opts.newMemberId ?? (() => crypto.randomUUID()),
      reconcileHeartbeatIntervalMs: opts.reconcileHeartbeatIntervalMs ?? 50,
      ...(opts.onEpochBump && { onEpochBump: opts.onEpochBump }),
      ...(opts.topicAccess && { topicAccess: opts.topicAccess }),
      ...(opts.groupAccess && { groupAccess: opts.groupAccess }),
    };
    this.minSessionMs = opts.minSessionTimeoutMs ?? 1_000;
    this.maxSessionMs = opts.maxSessionTimeoutMs ?? 1_800_000;
    this.retentionMs = opts.offsetsRetentionMs ?? 7 * 24 * 3600 * 1000;
    this.onBackgroundError = opts.onBackgroundError ?? (() => undefined);
    this.persistMembers = opts.persistMembership === true;
    if (this.persistMembers) this.restoreGroups(opts.onRestoreWarning ?? (() => undefined));
  }

  /**
   * The groups whose membership the store holds (a previous coordinator's), members heard
   * from now. Each record is checked first (checkPersistedGroup): what is invalid is skipped
   * with a warning, and a record that cannot be used at all leaves its group without members
   * (they get UNKNOWN_MEMBER_ID and rejoin; at-least-once still holds).
   */
  private restoreGroups(warn: (w: RestoreWarning) => void): void {
    const now = this.clock.now();
    const defaults = { sessionTimeoutMs: this.config.sessionTimeoutMs, rebalanceTimeoutMs: this.config.rebalanceTimeoutMs };
    for (const [id, packed] of this.store.memberships()) {
      let raw: unknown;
      try {
        raw = unpack(packed);
      } catch (err) {
        warn({ group: id, field: '(record)', problem: `does not decode (${(err as Error).message}); membership dropped` });
        continue;
      }
      // One group's record, however damaged, must not keep the whole partition from loading:
      // whatever the check or the restore throws drops that group's membership only.
      try {
        const p = checkPersistedGroup(id, raw, defaults, warn);
        if (!p) continue;
        this.groups.set(id, ConsumerGroup.restore(id, this.config, p, now));
        this.persistedMembers.set(id, packed);
      } catch (err) {
        this.groups.delete(id);
        warn({ group: id, field: '(record)', problem: `cannot be restored (${(err as Error).message}); membership dropped` });
      }
    }
  }

  /**
   * Resolves once the membership of `groupId` as of now (what a heartbeat just answered) is
   * durable; rejects when that write failed (NOT_COORDINATOR once this broker stopped
   * leading). Resolved at once without persistMembership.
   */
  membershipDurable(groupId: string): Promise<void> {
    return this.membershipWrites.get(groupId) ?? Promise.resolve();
  }

  /** Writes the group's membership when it changed since the last write (cluster mode). */
  private persistMembership(g: ConsumerGroup): void {
    if (!this.persistMembers) return;
    const packed = g.size > 0 ? pack({ v: PERSISTED_MEMBERSHIP_VERSION, ...g.snapshot() }) : null;
    const last = this.persistedMembers.get(g.id);
    if (packed === null ? last === undefined : last !== undefined && packed.equals(last)) return;
    if (packed === null) this.persistedMembers.delete(g.id);
    else this.persistedMembers.set(g.id, packed);
    const write: Promise<void> = this.store.setMembership(g.id, packed).then(() => {
      if (this.membershipWrites.get(g.id) === write) this.membershipWrites.delete(g.id);
    }, (err: unknown) => {
      if (this.membershipWrites.get(g.id) === write) this.membershipWrites.delete(g.id);
      this.persistedMembers.delete(g.id); // unknown what is stored: the next change writes again
      throw err;
    });
    // Heartbeats await it (membershipDurable); a change no request waits for reports its failure here.
    write.catch(this.onBackgroundError);
    this.membershipWrites.set(g.id, write);
  }

  /** ConsumerGroupHeartbeat: join, stay, reconcile or leave. Throws the whole-request error. */
  heartbeat(groupId: string, req: HeartbeatInput): HeartbeatOutput {
    checkGroupId(groupId);
    const st = req.sessionTimeoutMs;
    if (st !== undefined && (typeof st !== 'number' || !Number.isInteger(st) || st < this.minSessionMs || st > this.maxSessionMs)) {
      throw new InvalidSessionTimeoutError(st, this.minSessionMs, this.maxSessionMs);
    }
    const now = this.clock.now();
    let g = this.groups.get(groupId);
    const created = !g;
    if (!g) {
      if (req.memberEpoch !== 0) {
        if (req.memberEpoch === -1) return { memberId: req.memberId, memberEpoch: -1, heartbeatIntervalMs: 0 };
        throw new UnknownMemberIdError(groupId, req.memberId);
      }
      g = new ConsumerGroup(groupId, this.config, now);
      this.groups.set(groupId, g);
    }
    try {
      return g.heartbeat(req, now, this.topics);
    } catch (err) {
      if (created && g.size === 0) this.groups.delete(groupId); // a refused first join leaves nothing behind
      throw err;
    } finally {
      this.persistEmptiness(g);
      this.persistMembership(g);
    }
  }

  /** The full topic -> partition count map; groups whose subscriptions resolve differently rebalance. */
  onTopicsChanged(topics: ReadonlyMap<string, number>): void {
    this.topics = new Map(topics);
    for (const g of this.groups.values()) if (g.onTopicsChanged(this.topics)) this.persistMembership(g);
  }

  /**
   * The ACLs changed: members whose user may no longer read their group or a topic they name
   * are removed (returned), and groups whose pattern members may now be assigned other topics
   * rebalance.
   */
  onAccessChanged(now = this.clock.now()): string[] {
    const fenced: string[] = [];
    for (const g of this.groups.values()) {
      const r = g.onAccessChanged(this.topics, now);
      fenced.push(...r.fenced);
      if (r.bumped) {
        this.persistEmptiness(g);
        this.persistMembership(g);
      }
    }
    return fenced;
  }

  /** Removes members past their session or revocation deadline and expires offsets of empty groups. */
  async tick(now = this.clock.now()): Promise<{ removedMembers: string[]; expiredOffsets: number }> {
    const removedMembers: string[] = [];
    for (const g of this.groups.values()) {
      removedMembers.push(...g.expireMembers(now, this.topics));
      this.persistEmptiness(g);
      this.persistMembership(g);
    }
    const expiredOffsets = await this.store.expire(now, this.retentionMs);
    await this.store.idle();
    for (const [id, g] of this.groups) {
      // Forget an empty group once the store has nothing left of it either.
      if (g.size === 0 && !this.store.hasGroup(id) && g.emptySince !== null && now - g.emptySince >= this.retentionMs) {
        this.groups.delete(id);
        this.persistedEmpty.delete(id);
      }
    }
    return { removedMembers, expiredOffsets };
  }

  /** Whether `memberId` is currently a member of `groupId`. */
  hasMember(groupId: string, memberId: string): boolean {
    return this.groups.get(groupId)?.hasMember(memberId) ?? false;
  }

  /** Earliest time a member could time out (Infinity when no group has members). */
  nextDeadline(): number {
    let t = Infinity;
    for (const g of this.groups.values()) t = Math.min(t, g.nextDeadline());
    return t;
  }

  /**
   * OffsetCommit. A membership failure applies to every partition; a bad value only to its
   * own partition. Resolves when the accepted offsets are durable. With a member id and a
   * `commitSeq` (the member's commit sequence), a partition that member committed with a
   * sequence not below `commitSeq` is not written again: it is answered as that newer commit's
   * write ends (commit-order.ts), so a commit resent late never moves the offset back. A
   * simple commit (no member id) is ordered the same way among the commits of `committerId`.
   */
  async commitOffsets(groupId: string, memberId: string | undefined, memberEpoch: number | undefined,
    entries: readonly OffsetCommitEntry[], commitSeq?: number, committerId?: string): Promise<PartitionResult[]> {
    checkGroupId(groupId);
    const all = (error: SluiceError) => entries.map(({ topic, partition }) => ({ topic, partition, error }));
    const g = this.groups.get(groupId);
    try {
      if (g) g.validateCommit(memberId, memberEpoch);
      else if (memberId) throw new UnknownMemberIdError(groupId, memberId);
    } catch (err) {
      return all(err as SluiceError);
    }
    const committer = memberId || committerId;
    const stamp = committer && commitSeq !== undefined ? { memberId: committer, seq: commitSeq } : undefined;
    const results: PartitionResult[] = [];
    const accepted: OffsetCommitEntry[] = [];
    const superseded = new Map<PartitionResult, Promise<void>>();
    for (const e of entries) {
      const error = this.store.checkEntry(e) ?? g?.commitRefusal(memberId, e.topic, e.partition);
      const r: PartitionResult = error ? { topic: e.topic, partition: e.partition, error } : { topic: e.topic, partition: e.partition };
      results.push(r);
      if (error) continue;
      const newer = stamp && this.order.supersededBy(groupId, e.topic, e.partition, stamp, this.store.commitStamp(groupId, e.topic, e.partition));
      if (newer) superseded.set(r, newer);
      else accepted.push(e);
    }
    // Nothing above awaits: the check and the queueing of the write are one step, so two commits are ordered as they arrived.
    const write = this.store.commit(groupId, accepted, stamp);
    if (stamp) this.order.track(groupId, accepted, stamp, write);
    const failed = (r: PartitionResult, err: unknown) => {
      r.error ??= err instanceof SluiceError ? err : new StorageError(`offset commit failed: ${(err as Error).message}`, { cause: err });
    };
    try {
      await write;
    } catch (err) {
      for (const r of results) if (!superseded.has(r)) failed(r, err);
    }
    for (const [r, newer] of superseded) await newer.catch((err: unknown) => failed(r, err));
    return results;
  }

  /** OffsetFetch: the given partitions (-1 where nothing is committed) or all committed ones. */
  fetchOffsets(groupId: string, partitions?: readonly TopicPartition[]): CommittedOffset[] {
    checkGroupId(groupId);
    return this.store.fetch(groupId, partitions);
  }

  /** OffsetDelete: refused for topics a current member subscribes to. */
  async deleteOffsets(groupId: string, partitions: readonly TopicPartition[]): Promise<PartitionResult[]> {
    checkGroupId(groupId);
    const g = this.groups.get(groupId);
    if (!g && !this.store.hasGroup(groupId)) {
      const error = new GroupIdNotFoundError(groupId);
      return partitions.map(({ topic, partition }) => ({ topic, partition, error }));
    }
    const results: PartitionResult[] = [];
    const doomed: TopicPartition[] = [];
    for (const { topic, partition } of partitions) {
      if (g && g.size > 0 && g.subscribesTo(topic)) {
        results.push({ topic, partition, error: new GroupSubscribedToTopicError(groupId, topic) });
      } else {
        results.push({ topic, partition });
        doomed.push({ topic, partition });
      }
    }
    await this.store.deleteOffsets(groupId, doomed);
    return results;
  }

  listGroups(states?: readonly GroupState[]): GroupListing[] {
    const ids = new Set([...this.groups.keys(), ...this.store.groups()]);
    const out: GroupListing[] = [];
    for (const id of [...ids].sort()) {
      const g = this.groups.get(id);
      const listing = { groupId: id, state: g?.state() ?? 'Empty', groupEpoch: g?.epoch ?? 0, members: g?.size ?? 0 };
      if (!states || states.length === 0 || states.includes(listing.state)) out.push(listing);
    }
    return out;
  }

  describeGroups(groupIds: readonly string[], includeOffsets = true): GroupDescription[] {
    return groupIds.map((id) => {
      const g = this.groups.get(id);
      const base = { groupId: id, assignor: this.config.assignorName };
      if (!g && !this.store.hasGroup(id)) {
        return { ...base, error: new GroupIdNotFoundError(id), state: 'Dead', groupEpoch: -1, targetEpoch: -1, members: [] };
      }
      return {
        ...base,
        state: g?.state() ?? 'Empty',
        groupEpoch: g?.epoch ?? 0,
        targetEpoch: g?.targetEpoch ?? 0,
        members: g?.describeMembers() ?? [],
        ...(includeOffsets ? { offsets: this.store.fetch(id) } : {}),
      };
    });
  }

  /** DeleteGroups: only groups without members; their offsets go with them. */
  async deleteGroups(groupIds: readonly string[]): Promise<{ groupId: string; error?: SluiceError }[]> {
    const out: { groupId: string; error?: SluiceError }[] = [];
    for (const id of groupIds) {
      const g = this.groups.get(id);
      if (g && g.size > 0) {
        out.push({ groupId: id, error: new NonEmptyGroupError(id, g.size) });
        continue;
      }
      if (!g && !this.store.hasGroup(id)) {
        out.push({ groupId: id, error: new GroupIdNotFoundError(id) });
        continue;
      }
      this.groups.delete(id);
      this.persistedEmpty.delete(id);
      this.persistedMembers.delete(id); // deleteGroup below tombstones it
      try {
        await this.store.deleteGroup(id);
        out.push({ groupId: id });
      } catch (err) {
        out.push({ groupId: id, error: err instanceof SluiceError ? err : new StorageError(String(err), { cause: err }) });
      }
    }
    return out;
  }

  /** Writes the group's "empty since" when it changed, in the background (order is kept by the store's queue). */
  private persistEmptiness(g: ConsumerGroup): void {
    const known = this.persistedEmpty.has(g.id) ? this.persistedEmpty.get(g.id) : this.store.emptySince(g.id);
    if (known === g.emptySince) return;
    // A brand-new group that is still empty (its first join failed) needs no record.
    if (known === undefined && g.size === 0) return;
    this.persistedEmpty.set(g.id, g.emptySince);
    this.store.setEmptySince(g.id, g.emptySince).catch((err) => {
      this.persistedEmpty.delete(g.id);
      this.onBackgroundError(err);
    });
  }
}
