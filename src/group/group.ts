/**
 * One consumer group's membership and reconciliation state machine (KIP-848 model).
 *
 * Epochs:
 *  - the group epoch is bumped whenever membership, a subscription, or the partition count
 *    of a subscribed topic changes; the target assignment is recomputed at once, so the
 *    target epoch always equals the group epoch after a call returns;
 *  - each member has its own epoch: the target epoch it has reached. It only moves once the
 *    member has given up every partition the target takes away from it.
 *
 * Ownership invariant: `owners` maps each partition to the single member that may hold it
 * (its `assigned` set, or its `revoking` set until it confirms the release). A partition is
 * handed to a new member only when absent from `owners`, i.e. after the old holder's
 * heartbeat stopped listing it, or the old holder was removed. So no two members are ever
 * told they may own the same partition, and members that keep a partition through a
 * rebalance never stop consuming it.
 *
 * Everything is synchronous and takes `now` as an argument; the coordinator owns time.
 */
import {
  FencedMemberEpochError, InvalidGroupRequestError, MemberAccessRevokedError, NotOwnedCommitError, StaleMemberEpochError,
  UnknownMemberIdError,
} from './errors.js';
import type { SluiceError } from '../errors.js';
import { isInternalTopicName } from '../topic-name.js';
import { compilePattern } from './subscription-pattern.js';
import {
  compareTpKeys, fromTopicPartitions, toTopicPartitions, tpKey,
  type Assignor, type GroupState, type MemberState, type TopicPartitions,
} from './types.js';

export interface GroupConfig {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Used when a member does not send its own rebalanceTimeoutMs. */
  rebalanceTimeoutMs: number;
  assignorName: string;
  assignor: Assignor;
  newMemberId: () => string;
  /**
   * Heartbeat interval told to a member with something left to do (a revocation to confirm,
   * a partition to wait for), so revocations and releases propagate in a few round trips
   * instead of a few full intervals. Default: heartbeatIntervalMs.
   */
  reconcileHeartbeatIntervalMs?: number;
  /**
   * Called once per group epoch bump (join, leave, subscription or metadata change), with
   * the members whose target assignment changed in it (only they have anything to do).
   */
  onEpochBump?: (groupId: string, epoch: number, members: number, changed: readonly string[]) => void;
  /**
   * `auth: scram` (docs/security.md, "Authorization"): whether `principal` may read `topic`. A
   * member subscribed by pattern is assigned only the matching topics its principal may read,
   * so a pattern neither hands a member partitions it cannot fetch (they would sit with it,
   * unread) nor tells it the names of topics it may not see. Absent: every match counts.
   */
  topicAccess?: (principal: string, topic: string) => boolean;
  /**
   * `auth: scram`: whether `principal` may read group `group`. With `topicAccess`, what fences
   * a member whose right was taken away after it joined (`onAccessChanged`, and its heartbeat):
   * a member that may no longer read its group, or a topic its subscription names, is removed
   * so its partitions go to members that may read them (docs/security.md, "Authorization").
   */
  groupAccess?: (principal: string, group: string) => boolean;
}

/** A heartbeat's body. Optional fields left out mean "unchanged since my last heartbeat". */
export interface HeartbeatInput {
  /** '' with epoch 0 asks the coordinator to pick an id. */
  memberId: string;
  /** 0 = join (or rejoin after being fenced), -1 = leave, otherwise the last epoch the member was given. */
  memberEpoch: number;
  subscribedTopics?: string[];
  /** A JavaScript regular expression source matched against whole topic names. */
  subscribedPattern?: string;
  /** Who sent it (`auth: scram`; the connection's user, never the request's word): a pattern resolves to what it may read (GroupConfig.topicAccess). */
  principal?: string;
  /** Partitions the member holds right now; it must send this on every heartbeat that follows a revocation. */
  ownedPartitions?: TopicPartitions[];
  rebalanceTimeoutMs?: number;
  /** This member's session timeout (the coordinator checks its bounds); left out = unchanged, or the group default on join. */
  sessionTimeoutMs?: number;
}

export interface HeartbeatOutput {
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** Everything the member may own now (absent on a leave). */
  assignment?: TopicPartitions[];
}

export interface MemberDescription {
  memberId: string;
  memberEpoch: number;
  state: MemberState;
  subscribedTopics?: string[];
  subscribedPattern?: string;
  assignment: TopicPartitions[];
  /** Partitions it was told to give up and has not confirmed yet. */
  revoking: TopicPartitions[];
  targetAssignment: TopicPartitions[];
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * What cluster mode persists of a group (KIP-848's member epochs and target assignment), so a
 * new coordinator continues it: members keep their ids, epochs and partitions. Not persisted:
 * heartbeat times and revocation deadlines (a restored member gets a fresh session and, if it
 * was revoking, a fresh rebalance timeout). Partitions are tpKey strings.
 */
export interface PersistedGroup {
  epoch: number;
  targetEpoch: number;
  /** Partition counts of the subscribed topics the target was computed from. */
  metadata: [string, number][];
  members: PersistedMember[];
  target: [string, string[]][];
}

export interface PersistedMember {
  id: string;
  epoch: number;
  previousEpoch: number;
  topics: string[] | null;
  pattern: string | null;
  /** The member's user (auth scram): its pattern resolves to the topics this user may read. */
  principal?: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  assigned: string[];
  revoking: string[];
  owned: string[];
  state: MemberState;
  targetSince: number;
}

class Member {
  epoch = 0;
  previousEpoch = -1;
  topics: string[] | null = null;
  pattern: string | null = null;
  regex: RegExp | null = null;
  /** Its user with auth on (HeartbeatInput.principal); null with auth off. */
  principal: string | null = null;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  lastHeartbeat: number;
  /** Partitions it may own now (told in the last response). */
  readonly assigned = new Set<string>();
  /** Taken away by the target but not yet confirmed released; still counted as its own. */
  readonly revoking = new Set<string>();
  /** What it said it owns in its last heartbeat. */
  owned: Set<string> = new Set();
  state: MemberState = 'stable';
  /** When it must have confirmed its revocation (state 'unrevoked'), or be removed. */
  revokeDeadline = Infinity;
  /** The group epoch at which its target assignment last changed. */
  targetSince = 0;

  constructor(readonly id: string, rebalanceTimeoutMs: number, sessionTimeoutMs: number, now: number) {
    this.rebalanceTimeoutMs = rebalanceTimeoutMs;
    this.sessionTimeoutMs = sessionTimeoutMs;
    this.lastHeartbeat = now;
  }
}

export class ConsumerGroup {
  epoch = 0;
  targetEpoch = 0;
  /** ms when the last member left (or the group was created empty); null while it has members. */
  emptySince: number | null;
  private readonly members = new Map<string, Member>();
  private target = new Map<string, Set<string>>();
  private readonly owners = new Map<string, string>();
  /** Partition counts of the topics the members subscribe to, as of the last target computation. */
  private metadata = new Map<string, number>();
  /** Pattern -> matching topics, valid for the topic map `patternTopics`. */
  private readonly patternCache = new Map<string, string[]>();
  private patternTopics: ReadonlyMap<string, number> | null = null;
  /** What the access-filtered pattern members resolved to at the last bump (accessSignature). */
  private accessSig = '';

  constructor(readonly id: string, private readonly config: GroupConfig, now: number) {
    this.emptySince = now;
  }

  get assignorName(): string {
    return this.config.assignorName;
  }

  get size(): number {
    return this.members.size;
  }

  state(): GroupState {
    if (this.members.size === 0) return 'Empty';
    if (this.targetEpoch < this.epoch) return 'Assigning';
    for (const m of this.members.values()) if (!settled(m)) return 'Reconciling';
    return 'Stable';
  }

  hasMember(id: string): boolean {
    return this.members.has(id);
  }

  /** Whether some member's subscription currently resolves to `topic`. */
  subscribesTo(topic: string): boolean {
    return this.metadata.has(topic);
  }

  heartbeat(req: HeartbeatInput, now: number, topics: ReadonlyMap<string, number>): HeartbeatOutput {
    // Field types and ranges were checked against the request schema (protocol/api-table.ts);
    // what is left needs the group's state or combines fields.
    if (req.subscribedTopics !== undefined && req.subscribedPattern !== undefined) {
      throw new InvalidGroupRequestError('send subscribedTopics or subscribedPattern, not both');
    }
    // Compiled before anything changes, so a refused pattern leaves the group as it was.
    const newTopics = req.subscribedTopics !== undefined ? [...new Set(req.subscribedTopics)].sort() : undefined;
    const newRegex = req.subscribedPattern !== undefined ? compilePattern(req.subscribedPattern) : undefined;
    if (req.memberEpoch === -1) {
      if (this.members.has(req.memberId)) this.remove(req.memberId, now, topics);
      return { memberId: req.memberId, memberEpoch: -1, heartbeatIntervalMs: 0 };
    }

    let m: Member;
    let changed = false;
    if (req.memberEpoch === 0) {
      if (req.subscribedTopics === undefined && req.subscribedPattern === undefined) {
        throw new InvalidGroupRequestError('a joining member must send subscribedTopics or subscribedPattern');
      }
      const id = req.memberId || this.config.newMemberId();
      // Epoch 0 from a known id is a member that was fenced and starts over: its old
      // incarnation's partitions are free (it dropped them when it was fenced).
      if (this.members.has(id)) this.dropMember(id);
      m = new Member(id, req.rebalanceTimeoutMs ?? this.config.rebalanceTimeoutMs, req.sessionTimeoutMs ?? this.config.sessionTimeoutMs, now);
      this.members.set(id, m);
      this.emptySince = null;
      changed = true;
    } else {
      const found = this.members.get(req.memberId);
      if (!found) throw new UnknownMemberIdError(this.id, req.memberId);
      m = found;
      const owned = req.ownedPartitions ? fromTopicPartitions(req.ownedPartitions) : m.owned;
      this.checkEpoch(m, req.memberEpoch, owned);
    }

    m.lastHeartbeat = now;
    if (req.rebalanceTimeoutMs !== undefined) m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    if (req.sessionTimeoutMs !== undefined) m.sessionTimeoutMs = req.sessionTimeoutMs;
    if (req.ownedPartitions) m.owned = fromTopicPartitions(req.ownedPartitions);
    if (newTopics) changed = setTopics(m, newTopics) || changed;
    if (newRegex) changed = setPattern(m, req.subscribedPattern!, newRegex) || changed;
    const principal = req.principal ?? null;
    if (m.principal !== principal) {
      m.principal = principal;
      changed = changed || m.pattern !== null;
    }
    // A right taken away since the join (the request check sees only the names a heartbeat
    // carries, and a heartbeat carries them only when they change): fenced, as the tick would.
    const refused = this.accessRefusal(m);
    if (refused) {
      this.remove(m.id, now, topics);
      throw refused;
    }
    if (changed) this.bump(topics);
    this.reconcile(m, now);
    return {
      memberId: m.id,
      memberEpoch: m.epoch,
      // Only a member with something left to do polls fast: with hundreds of members, a group
      // that is rebalancing somewhere would otherwise have every member heartbeat at 50 ms.
      // A settled member learns of a new target from the rebalance push (or its next heartbeat).
      heartbeatIntervalMs: settled(m) ? this.config.heartbeatIntervalMs
        : Math.min(this.config.heartbeatIntervalMs, this.config.reconcileHeartbeatIntervalMs ?? Infinity),
      assignment: toTopicPartitions([...m.assigned].sort(compareTpKeys)),
    };
  }

  /**
   * A heartbeat may carry the previous epoch when the response that moved the member on
   * was lost; that is harmless as long as it owns nothing it was not given, and it is
   * answered with the current state. Anything else is fenced.
   */
  private checkEpoch(m: Member, epoch: number, owned: ReadonlySet<string>): void {
    if (epoch === m.epoch) return;
    if (epoch === m.previousEpoch && epoch < m.epoch) {
      let subset = true;
      for (const k of owned) if (!m.assigned.has(k)) { subset = false; break; }
      if (subset) return;
    }
    throw new FencedMemberEpochError(this.id, m.id, epoch, m.epoch);
  }

  /** Checks an offset commit's member and epoch (see the offset commit rules in docs/groups.md). */
  validateCommit(memberId: string | undefined, memberEpoch: number | undefined): void {
    if (!memberId) {
      if (this.members.size > 0) {
        throw new UnknownMemberIdError(this.id, '', 'commits without a member id are allowed only while the group has no members');
      }
      return;
    }
    const m = this.members.get(memberId);
    if (!m) throw new UnknownMemberIdError(this.id, memberId);
    const epoch = memberEpoch ?? -1;
    if (epoch < m.epoch) throw new StaleMemberEpochError(this.id, memberId, epoch, m.epoch);
    if (epoch > m.epoch) throw new FencedMemberEpochError(this.id, memberId, epoch, m.epoch);
  }

  /**
   * Why member `memberId` (at its current epoch, validateCommit passed) may not commit
   * `topic`/`partition`, or undefined: it neither owns it nor is still revoking it (KIP-848).
   * A commit of positions captured before a rebalance, retried after it, would otherwise
   * overwrite the newer commit of the partition's new owner. No member id: no owner to check.
   */
  commitRefusal(memberId: string | undefined, topic: string, partition: number): SluiceError | undefined {
    const m = memberId ? this.members.get(memberId) : undefined;
    if (!m) return undefined;
    const k = tpKey(topic, partition);
    if (m.assigned.has(k) || m.revoking.has(k)) return undefined;
    return new NotOwnedCommitError(this.id, m.id, m.epoch, topic, partition);
  }

  /** Removes members whose session or revocation deadline passed; returns their ids. */
  expireMembers(now: number, topics: ReadonlyMap<string, number>): string[] {
    const gone: string[] = [];
    for (const m of this.members.values()) {
      if (now >= m.lastHeartbeat + m.sessionTimeoutMs || (m.state === 'unrevoked' && now >= m.revokeDeadline)) gone.push(m.id);
    }
    for (const id of gone) this.dropMember(id);
    if (gone.length > 0) this.afterRemoval(now, topics);
    return gone;
  }

  /** Earliest time `expireMembers` could remove someone, or Infinity. */
  nextDeadline(): number {
    let t = Infinity;
    for (const m of this.members.values()) {
      t = Math.min(t, m.lastHeartbeat + m.sessionTimeoutMs);
      if (m.state === 'unrevoked') t = Math.min(t, m.revokeDeadline);
    }
    return t;
  }

  /** Topic metadata changed: recompute the target if any subscribed topic's partitions (or a pattern's matches) changed. */
  onTopicsChanged(topics: ReadonlyMap<string, number>): boolean {
    if (this.members.size === 0) return false;
    const next = this.resolveMetadata(topics);
    if (sameCounts(next, this.metadata)) return false;
    this.bump(topics);
    return true;
  }

  /**
   * The ACLs changed (GroupConfig.topicAccess answers differently now): recompute the target
   * if what a pattern member may be assigned changed. Returns whether the group epoch moved.
   */
  onAccessChanged(topics: ReadonlyMap<string, number>, now: number): { bumped: boolean; fenced: string[] } {
    const fenced: string[] = [];
    for (const m of this.members.values()) if (this.accessRefusal(m)) fenced.push(m.id);
    if (fenced.length > 0) {
      for (const id of fenced) this.dropMember(id);
      this.afterRemoval(now, topics);
      return { bumped: true, fenced };
    }
    if (this.members.size === 0 || this.accessSignature(topics) === this.accessSig) return { bumped: false, fenced };
    this.bump(topics);
    return { bumped: true, fenced };
  }

  /**
   * Why member `m` may not stay (its user lost read on the group, or on a topic it names), or
   * undefined. A pattern member is not fenced for a topic: it is assigned only what it may read.
   */
  private accessRefusal(m: Member): SluiceError | undefined {
    const who = m.principal;
    if (who === null) return undefined;
    if (this.config.groupAccess && !this.config.groupAccess(who, this.id)) {
      return new MemberAccessRevokedError(this.id, m.id, who, { type: 'group', name: this.id });
    }
    const access = this.config.topicAccess;
    if (!access || m.topics === null) return undefined;
    for (const t of m.topics) if (!access(who, t)) return new MemberAccessRevokedError(this.id, m.id, who, { type: 'topic', name: t });
    return undefined;
  }

  remove(memberId: string, now: number, topics: ReadonlyMap<string, number>): void {
    this.dropMember(memberId);
    this.afterRemoval(now, topics);
  }

  /** The state a new coordinator needs to continue this group (see PersistedGroup). */
  snapshot(): PersistedGroup {
    return {
      epoch: this.epoch,
      targetEpoch: this.targetEpoch,
      metadata: [...this.metadata],
      members: [...this.members.values()].map((m) => ({
        id: m.id, epoch: m.epoch, previousEpoch: m.previousEpoch, topics: m.topics, pattern: m.pattern,
        ...(m.principal !== null && { principal: m.principal }),
        rebalanceTimeoutMs: m.rebalanceTimeoutMs, sessionTimeoutMs: m.sessionTimeoutMs,
        assigned: [...m.assigned], revoking: [...m.revoking], owned: [...m.owned], state: m.state, targetSince: m.targetSince,
      })),
      target: [...this.target].map(([id, ks]) => [id, [...ks]]),
    };
  }

  /**
   * A group as a previous coordinator persisted it (`snapshot()`), its members heard from
   * `now`. `p` must have passed checkPersistedGroup (persisted-membership.ts), which drops
   * or repairs what a damaged record holds: restore trusts it.
   */
  static restore(id: string, config: GroupConfig, p: PersistedGroup, now: number): ConsumerGroup {
    const g = new ConsumerGroup(id, config, now);
    g.epoch = p.epoch;
    g.targetEpoch = p.targetEpoch;
    g.metadata = new Map(p.metadata);
    g.target = new Map(p.target.map(([mid, ks]) => [mid, new Set(ks)]));
    for (const pm of p.members) {
      const m = new Member(pm.id, pm.rebalanceTimeoutMs, pm.sessionTimeoutMs, now);
      m.epoch = pm.epoch;
      m.previousEpoch = pm.previousEpoch;
      m.topics = pm.topics;
      m.principal = pm.principal ?? null;
      if (pm.pattern !== null) {
        m.pattern = pm.pattern;
        m.regex = compilePattern(pm.pattern);
      }
      for (const k of pm.assigned) { m.assigned.add(k); g.owners.set(k, m.id); }
      for (const k of pm.revoking) { m.revoking.add(k); g.owners.set(k, m.id); }
      m.owned = new Set(pm.owned);
      m.state = pm.state;
      m.targetSince = pm.targetSince;
      if (m.state === 'unrevoked') m.revokeDeadline = now + m.rebalanceTimeoutMs;
      g.members.set(m.id, m);
    }
    if (g.members.size > 0) g.emptySince = null;
    return g;
  }

  describeMembers(): MemberDescription[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((m) => ({
      memberId: m.id,
      memberEpoch: m.epoch,
      state: m.state,
      ...(m.topics ? { subscribedTopics: [...m.topics] } : {}),
      ...(m.pattern !== null ? { subscribedPattern: m.pattern } : {}),
      assignment: toTopicPartitions([...m.assigned].sort(compareTpKeys)),
      revoking: toTopicPartitions([...m.revoking].sort(compareTpKeys)),
      targetAssignment: toTopicPartitions([...(this.target.get(m.id) ?? EMPTY)].sort(compareTpKeys)),
    }));
  }

  // --- internals ----------------------------------------------------------------

  private dropMember(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    // A removed member cannot confirm anything, so its partitions are free at once.
    for (const k of m.assigned) if (this.owners.get(k) === id) this.owners.delete(k);
    for (const k of m.revoking) if (this.owners.get(k) === id) this.owners.delete(k);
    this.members.delete(id);
    this.target.delete(id);
  }

  private afterRemoval(now: number, topics: ReadonlyMap<string, number>): void {
    if (this.members.size === 0) this.emptySince = now;
    this.bump(topics);
  }

  /** Topics a member's subscription resolves to today. Patterns never match internal `__` topics. */
  private resolve(m: Member, topics: ReadonlyMap<string, number>): string[] {
    if (m.topics) return m.topics.filter((t) => topics.has(t));
    if (!m.regex || m.pattern === null) return [];
    // Members usually share one pattern; each pattern runs over the topic list once per
    // metadata change (the coordinator hands in a new Map on every change).
    if (this.patternTopics !== topics) {
      this.patternTopics = topics;
      this.patternCache.clear();
    }
    let out = this.patternCache.get(m.pattern);
    if (!out) {
      out = [];
      for (const t of topics.keys()) if (!isInternalTopicName(t) && m.regex.test(t)) out.push(t);
      out.sort();
      this.patternCache.set(m.pattern, out);
    }
    const access = this.config.topicAccess;
    if (m.principal === null || access === undefined) return out;
    const who = m.principal;
    return out.filter((t) => access(who, t));
  }

  /** The topics each access-filtered pattern member resolves to: '' for a group without one (auth off). */
  private accessSignature(topics: ReadonlyMap<string, number>): string {
    if (this.config.topicAccess === undefined) return '';
    let sig = '';
    for (const m of this.members.values()) if (m.principal !== null && m.regex !== null) sig += `${m.id}\0${this.resolve(m, topics).join('\0')}\n`;
    return sig;
  }

  private resolveMetadata(topics: ReadonlyMap<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const m of this.members.values()) for (const t of this.resolve(m, topics)) out.set(t, topics.get(t)!);
    return out;
  }

  /** New group epoch and, at once, its target assignment (the previous target is the assignor's "current"). */
  private bump(topics: ReadonlyMap<string, number>): void {
    this.epoch++;
    this.metadata = this.resolveMetadata(topics);
    this.accessSig = this.accessSignature(topics);
    const input = [...this.members.values()].map((m) => ({
      id: m.id,
      topics: this.resolve(m, topics),
      current: this.target.get(m.id) ?? EMPTY,
    }));
    const previous = this.target;
    this.target = this.config.assignor(input, this.metadata);
    this.targetEpoch = this.epoch;
    // Only members whose target moved have anything to do; the rest keep their epoch until
    // their next heartbeat and count as settled meanwhile (settled()), so a join that takes
    // partitions from two members of a thousand disturbs two, not a thousand.
    const changed: string[] = [];
    for (const m of this.members.values()) {
      if (!sameSet(previous.get(m.id), this.target.get(m.id))) {
        m.targetSince = this.epoch;
        changed.push(m.id);
      }
    }
    this.config.onEpochBump?.(this.id, this.epoch, this.members.size, changed);
  }

  /**
   * Moves one member towards its target, from what it reported owning:
   *  1. while it still holds partitions it was told to give up, nothing else changes;
   *  2. partitions its target no longer has are taken away (epoch kept) and must be confirmed;
   *  3. then it reaches the target epoch and gets every target partition nobody else holds.
   */
  private reconcile(m: Member, now: number): void {
    const target = this.target.get(m.id) ?? EMPTY;
    // Given back by a newer target before the release was confirmed: it never stopped being ours.
    for (const k of m.revoking) if (target.has(k)) { m.revoking.delete(k); m.assigned.add(k); }
    if (m.revoking.size > 0) {
      for (const k of m.revoking) if (m.owned.has(k)) { m.state = 'unrevoked'; return; }
      for (const k of m.revoking) if (this.owners.get(k) === m.id) this.owners.delete(k);
      m.revoking.clear();
    }
    for (const k of m.assigned) if (!target.has(k)) { m.assigned.delete(k); m.revoking.add(k); }
    if (m.revoking.size > 0) {
      m.state = 'unrevoked';
      m.revokeDeadline = now + m.rebalanceTimeoutMs;
      return;
    }
    m.revokeDeadline = Infinity;
    if (m.epoch !== this.targetEpoch) {
      m.previousEpoch = m.epoch;
      m.epoch = this.targetEpoch;
    }
    let waiting = false;
    for (const k of target) {
      if (m.assigned.has(k)) continue;
      const holder = this.owners.get(k);
      if (holder === undefined) {
        this.owners.set(k, m.id);
        m.assigned.add(k);
      } else {
        waiting = true;
      }
    }
    m.state = waiting ? 'unreleased' : 'stable';
  }
}

/**
 * A member with nothing to do: it owns exactly its target, and that target has not changed
 * since the epoch it reached. Its own epoch may lag the group's (bumps that did not touch
 * its target); its next heartbeat moves it up without changing what it owns.
 */
function settled(m: Member): boolean {
  return m.state === 'stable' && m.revoking.size === 0 && m.epoch >= m.targetSince;
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}

function sameCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [t, n] of a) if (b.get(t) !== n) return false;
  return true;
}

/** Returns whether the subscription changed. */
function setTopics(m: Member, topics: string[]): boolean {
  const same = m.pattern === null && m.topics !== null && m.topics.length === topics.length && m.topics.every((t, i) => t === topics[i]);
  m.topics = topics;
  m.pattern = null;
  m.regex = null;
  return !same;
}

function setPattern(m: Member, pattern: string, regex: RegExp): boolean {
  if (m.pattern === pattern) return false;
  m.pattern = pattern;
  m.regex = regex;
  m.topics = null;
  return true;
}
