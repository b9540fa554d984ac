/**
 * The leader-epoch cache of one partition (Kafka's LeaderEpochFileCache, KIP-101): the list of
 * (leaderEpoch, startOffset) pairs, one per epoch that wrote records to this log, where
 * `startOffset` is the first offset written in that epoch. Both columns strictly increase.
 *
 * It answers the one question replication needs to cut a follower's log back to what the
 * leader has: "where does my epoch E end on your log?" (`endOffsetFor`). A log end offset or a
 * high watermark cannot answer it: KIP-101 shows an acknowledged record lost and two replicas
 * diverging when followers truncate to the high watermark.
 *
 * This file is the in-memory list and its rules only; leader-epoch-checkpoint.ts persists it,
 * and partition-log.ts keeps it consistent with the log (assign on append, truncateFromEnd on
 * truncation and at open, truncateFromStart when retention moves the log start).
 */

/** Epoch or offset for "none": the value Kafka's OffsetsForLeaderEpoch answer uses (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET). */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

/** The answer to "end offset of epoch E": the largest known epoch <= E and where it ends. */
export interface EpochEndOffset {
  epoch: number;
  endOffset: number;
}

export class LeaderEpochCache {
  private list: EpochEntry[] = [];

  constructor(entries: readonly EpochEntry[] = []) {
    for (const e of entries) this.assign(e.epoch, e.startOffset);
  }

  entries(): readonly EpochEntry[] {
    return this.list;
  }

  get length(): number {
    return this.list.length;
  }

  latestEntry(): EpochEntry | undefined {
    return this.list[this.list.length - 1];
  }

  /** The newest epoch that wrote records, or UNDEFINED_EPOCH when none is known. */
  latestEpoch(): number {
    return this.list.length === 0 ? UNDEFINED_EPOCH : this.list[this.list.length - 1].epoch;
  }

  /**
   * Records that `epoch` starts at `startOffset`. Returns whether the list changed (the
   * caller then persists it).
   *
   * - The latest epoch again at the same or a later offset: nothing to do (every append of
   *   a leader lands here; only the first append of an epoch changes the list).
   * - An epoch older than the latest: ignored. A log's batches carry non-decreasing epochs,
   *   so an older one means a stale writer; Kafka since 2.x lets it remove the newer entries,
   *   we refuse to let a stale writer erase what a newer leader wrote.
   * - Otherwise (a newer epoch, or the latest epoch at a smaller offset): entries that start
   *   at or after `startOffset` conflict with it (they describe offsets the new entry now
   *   owns, typically a tail written by a leader that was then truncated away) and are
   *   removed, and the entry is appended.
   */
  assign(epoch: number, startOffset: number): boolean {
    if (!Number.isSafeInteger(epoch) || epoch < 0 || !Number.isSafeInteger(startOffset) || startOffset < 0) {
      throw new RangeError(`invalid leader epoch entry: epoch ${epoch}, start offset ${startOffset}`);
    }
    const last = this.latestEntry();
    if (last) {
      if (epoch < last.epoch) return false;
      if (epoch === last.epoch && startOffset >= last.startOffset) return false;
    }
    while (this.list.length > 0) {
      const e = this.list[this.list.length - 1];
      if (e.epoch < epoch && e.startOffset < startOffset) break;
      this.list.pop();
    }
    this.list.push({ epoch, startOffset });
    return true;
  }

  /**
   * Kafka's `endOffsetFor`: the largest epoch <= `requestedEpoch` this log knows, and the
   * offset where it ends here (the start of the next known epoch, or `logEndOffset` when it
   * is the latest).
   *
   * - UNDEFINED_EPOCH requested, or an epoch newer than every known one (a leader never sees
   *   that, its latest epoch is the newest): (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET).
   * - The latest epoch: (it, logEndOffset).
   * - An epoch older than every known one (its records are gone, retention or truncation):
   *   (requestedEpoch, start offset of the first known epoch), so a follower keeps nothing
   *   past where this log's known history starts.
   * - Otherwise: (largest known epoch <= requested, start of the next known epoch).
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): EpochEndOffset {
    const undefinedAnswer = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (requestedEpoch === UNDEFINED_EPOCH || this.list.length === 0) return undefinedAnswer;
    if (requestedEpoch === this.latestEpoch()) return { epoch: requestedEpoch, endOffset: logEndOffset };
    // First entry with an epoch above the requested one.
    let hi = 0;
    while (hi < this.list.length && this.list[hi].epoch <= requestedEpoch) hi++;
    if (hi === this.list.length) return undefinedAnswer;
    if (hi === 0) return { epoch: requestedEpoch, endOffset: this.list[0].startOffset };
    return { epoch: this.list[hi - 1].epoch, endOffset: this.list[hi].startOffset };
  }

  /** The log was cut back to `endOffset`: entries starting at or after it go. Returns whether any did. */
  truncateFromEnd(endOffset: number): boolean {
    const before = this.list.length;
    while (this.list.length > 0 && this.list[this.list.length - 1].startOffset >= endOffset) this.list.pop();
    return this.list.length !== before;
  }

  /**
   * The log now starts at `startOffset` (retention): entries starting at or before it go,
   * except that the newest of them stays, moved to `startOffset`, because the records from
   * `startOffset` on still belong to its epoch. Returns whether the list changed.
   */
  truncateFromStart(startOffset: number): boolean {
    let n = 0;
    while (n < this.list.length && this.list[n].startOffset <= startOffset) n++;
    if (n === 0) return false;
    const keep = this.list[n - 1];
    if (n === 1 && keep.startOffset === startOffset) return false;
    this.list.splice(0, n, { epoch: keep.epoch, startOffset });
    return true;
  }

  clear(): void {
    this.list = [];
  }
}
