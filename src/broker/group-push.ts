/**
 * Rebalance push: tells a group's members at once that the group changed, instead of
 * leaving them to notice at their next heartbeat (up to group.heartbeatIntervalMs, 3 s by
 * default, later).
 *
 *   frame: { id: 0, push: 'group', groupId }   (docs/protocol.md, "Unsolicited frames")
 *
 * A member that gets it heartbeats at once; the heartbeat answer carries the new
 * assignment. The push holds no state of its own, so a lost or late push costs at most one
 * heartbeat interval, never correctness.
 *
 * member -> connection comes from heartbeats: the connection a member last heartbeated on.
 * Entries go when the connection closes, when the member leaves or is refused
 * (FENCED/UNKNOWN_MEMBER_ID), and on sweep() when the coordinator no longer knows the member
 * (timed out), so the map never holds more than live members plus open connections.
 *
 * Who is told: only the members whose target assignment changed in the bump (the
 * coordinator's onEpochBump names them). A join that takes partitions from two members of a
 * thousand pushes to two; the others have nothing to do and keep their epoch until their
 * next regular heartbeat. (Pushing every member on every join sent 490,000 frames for 1,000
 * members joining one group.)
 *
 * Coalescing: pushes are batched and sent on setImmediate, so a burst of bumps in one turn
 * sends one frame per member. Beyond that, a member pushed less than `windowMs` (the group
 * heartbeat interval) ago that has not heartbeated since is not pushed again: the heartbeat
 * that push triggers reaches the broker after the later bump, so its answer carries every
 * change up to then; and a member that ignores pushes still heartbeats within its interval.
 * So each member gets at most one push per heartbeat it sends, or per interval.
 *
 * The member whose heartbeat caused the bump is not pushed: its answer already says it.
 */
import type { RequestScope } from './context.js';

type PushTarget = Pick<RequestScope, 'closed' | 'onClose' | 'push'>;

interface Tracked {
  conn: PushTarget;
  unhook: () => void;
  /** When it was last pushed, until it heartbeats again (undefined: nothing outstanding). */
  pushedAt?: number | undefined;
}

export interface GroupPushOptions {
  /** A member pushed this recently that has not heartbeated since is not pushed again (the group heartbeat interval). */
  windowMs: number;
  now?: () => number;
}

export class GroupPush {
  /** groupId -> memberId -> the connection it last heartbeated on. */
  private readonly members = new Map<string, Map<string, Tracked>>();
  /** groupId -> members with a push due. */
  private readonly due = new Map<string, Set<string>>();
  private flushQueued = false;
  private requester: { groupId: string; memberId: string } | null = null;
  private readonly windowMs: number;
  private readonly now: () => number;
  pushesSent = 0;
  /** Pushes left out because the member's answer to an earlier one was still to come. */
  pushesCoalesced = 0;

  /** `isMember` says whether the coordinator still has the member. */
  constructor(private readonly isMember: (groupId: string, memberId: string) => boolean, opts: GroupPushOptions) {
    this.windowMs = opts.windowMs;
    this.now = opts.now ?? Date.now;
  }

  /** Runs a heartbeat of `memberId`: epoch bumps it causes do not push back to it. */
  during<T>(groupId: string, memberId: string, fn: () => T): T {
    this.requester = { groupId, memberId };
    try {
      return fn();
    } finally {
      this.requester = null;
    }
  }

  /** The member heartbeated on `conn` (and is still a member): it knows the group as of now. */
  track(groupId: string, memberId: string, conn: PushTarget): void {
    if (conn.closed || !memberId) return;
    let byMember = this.members.get(groupId);
    const old = byMember?.get(memberId);
    if (old?.conn === conn) {
      old.pushedAt = undefined;
      return;
    }
    old?.unhook();
    if (!byMember) this.members.set(groupId, (byMember = new Map()));
    const t: Tracked = { conn, unhook: () => {} };
    t.unhook = conn.onClose(() => {
      if (this.members.get(groupId)?.get(memberId) === t) this.untrack(groupId, memberId);
    });
    byMember.set(memberId, t);
  }

  untrack(groupId: string, memberId: string): void {
    const byMember = this.members.get(groupId);
    const t = byMember?.get(memberId);
    if (!byMember || !t) return;
    t.unhook();
    byMember.delete(memberId);
    if (byMember.size === 0) this.members.delete(groupId);
  }

  /** The group's epoch was bumped and the target assignment of `changed` moved. */
  epochBumped(groupId: string, changed: readonly string[]): void {
    const byMember = this.members.get(groupId);
    if (!byMember) return;
    const r = this.requester;
    let due = this.due.get(groupId);
    for (const memberId of changed) {
      if (!byMember.has(memberId) || (r?.groupId === groupId && r.memberId === memberId)) continue;
      if (!due) this.due.set(groupId, (due = new Set()));
      due.add(memberId);
    }
    if (due && !this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    const now = this.now();
    for (const [groupId, due] of this.due) {
      const frame = { id: 0, push: 'group', groupId };
      for (const memberId of due) {
        const t = this.members.get(groupId)?.get(memberId);
        if (!t) continue;
        if (!this.isMember(groupId, memberId)) this.untrack(groupId, memberId);
        else if (t.conn.closed) continue;
        else if (t.pushedAt !== undefined && now - t.pushedAt < this.windowMs) this.pushesCoalesced++;
        else {
          t.conn.push(frame);
          t.pushedAt = now;
          this.pushesSent++;
        }
      }
    }
    this.due.clear();
  }

  /** Drops members the coordinator no longer has (session timeouts); call from the liveness tick. */
  sweep(): void {
    for (const [groupId, byMember] of this.members) {
      for (const memberId of byMember.keys()) if (!this.isMember(groupId, memberId)) this.untrack(groupId, memberId);
    }
  }

  /** Tracked members (for tests and leak checks). */
  get size(): number {
    let n = 0;
    for (const m of this.members.values()) n += m.size;
    return n;
  }
}
