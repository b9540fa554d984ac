/**
 * The order of one member's commits (docs/cluster.md, "Coordinators"). A member can have two
 * commits in flight at once (an auto-commit and an explicit one, a revocation's commit and
 * the auto-commit timer), and the coordinator route sends a request again, with the body it
 * was built with, after a dropped link or NOT_COORDINATOR: the earlier commit can then reach
 * the coordinator after the later one. Applied in arrival order it would move the committed
 * offset back to positions the member had already moved past.
 *
 * So a member numbers its commits (OffsetCommit `commitSeq`, taken when it captures its
 * positions), and per group and partition the coordinator keeps the stamp (member id,
 * sequence) of the newest commit it accepted. A commit of the same member with a sequence
 * not above it is superseded: not written, and answered as that newer commit's write ends
 * (OK once it is durable; its error if it failed, so the member sends it again). Stamps of
 * durable commits are stored with the offset (offset-records.ts), so a new coordinator
 * orders against what its predecessor wrote; this map holds only the stamps whose writes are
 * still in flight (the store's map changes only once a write is durable).
 *
 * Commits of other members are not ordered here: a member commits only partitions it owns
 * or is revoking at its current epoch (ConsumerGroup.commitRefusal), and its epoch changes
 * whenever its partitions do, so two members never race on one partition at one epoch.
 *
 * Simple commits (no member id: Admin.resetOffsets, `sluice group reset-offsets`) are allowed
 * only while the group has no members (Group.validateCommit, Kafka's rule), so they never race
 * a member; two of one client can still race each other (a resend after a move, two resets at
 * once). The client numbers them too and names itself (OffsetCommit `committerId`, one per
 * client): the stamp is (committer id, sequence) and is ordered exactly like a member's. Simple
 * commits of different clients apply in arrival order, as in Kafka. Without a sequence (older
 * clients) nothing is ordered.
 */
import type { CommitStamp } from './offset-records.js';
import { tpKey } from './types.js';

interface Pending {
  stamp: CommitStamp;
  write: Promise<void>;
}

const DURABLE: Promise<void> = Promise.resolve();

export class CommitOrder {
  /** group -> partition key -> the newest accepted commit whose write has not ended. */
  private readonly pending = new Map<string, Map<string, Pending>>();

  /**
   * The write a commit of `stamp` for this partition is superseded by (a resolved promise
   * when that write is durable already), or undefined when it is to be applied. `stored`:
   * the stamp of the durable committed offset (OffsetStore.commitStamp).
   */
  supersededBy(group: string, topic: string, partition: number, stamp: CommitStamp, stored: CommitStamp | undefined): Promise<void> | undefined {
    const p = this.pending.get(group)?.get(tpKey(topic, partition));
    const newest = p?.stamp ?? stored;
    if (newest === undefined || newest.memberId !== stamp.memberId || newest.seq < stamp.seq) return undefined;
    return p?.write ?? DURABLE;
  }

  /** Records accepted commits of `stamp` and their write: newest for their partitions until it ends. */
  track(group: string, partitions: readonly { topic: string; partition: number }[], stamp: CommitStamp, write: Promise<void>): void {
    if (partitions.length === 0) return;
    let byKey = this.pending.get(group);
    if (!byKey) this.pending.set(group, (byKey = new Map()));
    const keys = partitions.map((p) => tpKey(p.topic, p.partition));
    for (const k of keys) byKey.set(k, { stamp, write });
    // Once it ends the store holds its stamp (durable) or nothing of it (failed): either way the store answers from then on.
    const done = (): void => {
      const m = this.pending.get(group);
      if (!m) return;
      for (const k of keys) if (m.get(k)?.write === write) m.delete(k);
      if (m.size === 0) this.pending.delete(group);
    };
    write.then(done, done);
  }
}
