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
 * Pushes are batched per group and sent on setImmediate: one join may bump the epoch and
 * recompute the target once, but a burst of joins, or a topic change touching many groups,
 * sends one frame per member, not one per bump. The connection whose heartbeat caused the
 * bump is skipped: its answer already carries the news. (One Sluice Consumer = one
 * connection; a client running several members of one group on one connection would only
 * lose the push for its siblings, which then learn at their next heartbeat.)
 */
import type { RequestScope } from './context.js';

type PushTarget = Pick<RequestScope, 'closed' | 'onClose' | 'push'>;

interface Tracked {
  conn: PushTarget;
  unhook: () => void;
}

export class GroupPush {
  /** groupId -> memberId -> the connection it last heartbeated on. */
  private readonly members = new Map<string, Map<string, Tracked>>();
  /** Groups with a push due -> the connection to skip (null: none). */
  private readonly due = new Map<string, PushTarget | null>();
  private flushQueued = false;
  private requester: PushTarget | null = null;
  pushesSent = 0;

  /** `isMember` says whether the coordinator still has the member. */
  constructor(private readonly isMember: (groupId: string, memberId: string) => boolean) {}

  /** Runs a heartbeat for `conn`: epoch bumps it causes do not push back to it. */
  during<T>(conn: PushTarget, fn: () => T): T {
    this.requester = conn;
    try {
      return fn();
    } finally {
      this.requester = null;
    }
  }

  /** The member heartbeated on `conn` (and is still a member). */
  track(groupId: string, memberId: string, conn: PushTarget): void {
    if (conn.closed || !memberId) return;
    let byMember = this.members.get(groupId);
    const old = byMember?.get(memberId);
    if (old?.conn === conn) return;
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

  /** The group's epoch was bumped (its target assignment was recomputed). */
  epochBumped(groupId: string): void {
    if (!this.members.has(groupId)) return;
    const skip = this.requester;
    // Two bumps from different causes before the flush: skip nobody.
    this.due.set(groupId, this.due.has(groupId) && this.due.get(groupId) !== skip ? null : skip);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    for (const [groupId, skip] of this.due) {
      const byMember = this.members.get(groupId);
      if (!byMember) continue;
      const frame = { id: 0, push: 'group', groupId };
      for (const [memberId, t] of byMember) {
        if (!this.isMember(groupId, memberId)) this.untrack(groupId, memberId);
        else if (t.conn !== skip && !t.conn.closed) {
          t.conn.push(frame);
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
