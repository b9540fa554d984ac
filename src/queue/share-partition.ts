/**
 * One share-partition: the queue state of (group, topic, partition).
 *
 *   settled | ........ window ........ | not yet taken
 *   --------+--------------------------+--------------> offsets
 *         start                       end          logEndOffset
 *
 * Every offset below `start` is acked or archived. Offsets in [start, end) have a state:
 * AVAILABLE (with a not-before time: backoff), ACQUIRED (worker, lock deadline), ACKED or
 * ARCHIVED. Offsets at or past `end` have never been handed out (state AVAILABLE, delivery
 * count 0) and cost nothing. `start` moves over contiguous settled records after each
 * change, and `end - start <= maxWindow`, so memory is bounded by the window, not by
 * history.
 *
 * Storage: six typed arrays indexed by `offset - base` (base <= start), 31 bytes per record
 * (state u8, delivery count u16, time f64, owner i32, since f64, first delivery f64): a 10k
 * window is ~310 KB and no object per record. The arrays are shifted down (copyWithin) when the dead prefix
 * below `start` would otherwise force them to grow.
 *
 * A delivery attempt is an acquisition: the delivery count goes up when a record is
 * acquired, and each attempt that ends without an ack (release, lock expiry, worker gone)
 * is a failed attempt: the record is dead-lettered once its count reached maxDeliveries,
 * else it is available again after an exponential backoff. The one exception is a release
 * of kind `unstarted` (a worker's prefetch it never began): it takes the acquisition back,
 * as Kafka's share partitions decrement the count of records released on a session close,
 * so prefetching workers that stop cannot push untouched jobs into the DLQ. Workers are small integers
 * (> 0) here; share-group.ts maps worker ids to them.
 *
 * Dead-lettering takes two steps, so that no record is archived without its copy: a record
 * that must be dead-lettered (rejected, or out of attempts) stays ACQUIRED, its lock handed to
 * the dead-letter writer (owner DEAD_LETTER_WRITER, no deadline), and the returned DeadLetter
 * tells the broker to copy it. Only `deadLettersWritten()`, called once the copy is durably
 * appended, archives it. If the copy cannot be written the broker keeps retrying. The hold is
 * persisted with its cause and reason (drainUpdate's `deadLettering`), so a coordinator that
 * loads the state (a restart, a move) holds the record again and resumes the copy
 * (`deadLettersToResume()`): a rejected record is never handed to a worker again, and is
 * archived only once its copy is written.
 *
 * Every change is also recorded as StateRuns for the state log (drainUpdate); an acquired
 * record is persisted as AVAILABLE with its count, since locks do not survive a restart.
 *
 * Cancel (an admin's ShareCancel) settles a record as CANCELLED whatever its state short of
 * settled: one not yet taken is never delivered (an offset past `end` widens the window to
 * it, up to maxWindow past `start`), one a worker holds loses its lock (the broker tells the
 * worker) and a later settle by that worker is INVALID_RECORD_STATE ("cancelled"). CANCELLED
 * is persisted like ACKED, so it survives a restart or a coordinator move.
 *
 * Progress (ShareProgress) is kept in memory only, per held record, beside its acquisition
 * time (`since`): it is for `describe --jobs`, and is forgotten when the record leaves its
 * holder or the coordinator restarts (docs/queue.md).
 */
import { MAX_REASON_LENGTH } from './dead-letter.js';
import { InvalidRecordStateError } from './errors.js';
import {
  RecordState, backoffMs, type AcquiredRange, type DeadLetter, type DeadLetterCause, type HeldDeadLetter, type PartitionUpdate,
  type RecordStateValue, type ReleaseKind, type ShareGroupConfig, type StateRun,
} from './types.js';

const { AVAILABLE, ACQUIRED, ACKED, ARCHIVED, CANCELLED } = RecordState;
const MAX_COUNT = 0xffff;
/** owner of an AVAILABLE record whose last take was given back unstarted (owners are > 0). */
const GIVEN_BACK = -1;
/** owner of an ACQUIRED record waiting for its dead-letter copy (the broker's writer holds it). */
const DEAD_LETTER_WRITER = -2;
/**
 * Cancelled offsets remembered after `start` passed them, so a late settle by the worker that
 * held one is told it was cancelled rather than just "already settled" (memory only, bounded).
 */
const RECENT_CANCELS = 1024;

const CANCELLED_PROBLEM = 'cancelled by an admin (ShareCancel): it is settled and will not be delivered again';

/** Record counts of a share partition, and summed over a group's partitions. */
export interface ShareCounts {
  /** Records in the window that can be acquired now or after their backoff. */
  available: number;
  /** ...of which are waiting for their backoff to pass. */
  delayed: number;
  inFlight: number;
  /** Total acked since the group started reading this partition (survives restarts). */
  acked: number;
  /** Total archived (rejected or out of attempts), i.e. dead-lettered. */
  deadLettered: number;
  /** Acquisitions that were not the record's first. */
  redeliveries: number;
  /** Total cancelled by an admin (survives restarts). */
  cancelled: number;
  /** ms since the oldest record now in flight was first delivered; 0 when none is in flight (a group: the oldest of all). */
  oldestUnackedMs: number;
}

export interface PartitionDescription extends ShareCounts {
  startOffset: number;
  endOffset: number;
}

/** A record a worker holds now (describe --jobs). */
export interface HeldRecord {
  offset: number;
  /** The holder's handle (share-group.ts maps it to a worker id). */
  worker: number;
  /** When this acquisition took it, ms. */
  since: number;
  deliveryCount: number;
  lockDeadline: number;
  /** The last progress its holder reported in this acquisition (ShareProgress), and when. */
  progress?: string;
  progressAt?: number;
}

/** What cancel() did with each offset it was given. */
export interface CancelResult {
  /** Cancelled now; `worker` is the holder's handle when a worker held it (0: nobody did). */
  cancelled: { offset: number; worker: number }[];
  /** Not cancelled, and why (already settled, past the log end, too far ahead). */
  skipped: { offset: number; reason: string }[];
}

export interface ExpireResult {
  /** Offsets whose lock ran out (or whose worker went away). */
  expired: number[];
  deadLetters: DeadLetter[];
}

export class SharePartition {
  private base: number;
  private startOff: number;
  private endOff: number;
  private state = new Uint8Array(64);
  private count = new Uint16Array(64);
  /** ACQUIRED: lock deadline; AVAILABLE: not before. ms. */
  private time = new Float64Array(64);
  private owner = new Int32Array(64);
  /** ACQUIRED: when this acquisition took it, ms (describe --jobs). */
  private since = new Float64Array(64);
  /**
   * When the record was first delivered, ms (oldestUnackedMs): set by the acquisition that
   * takes its delivery count from 0 to 1, so a take undone (a delayed job given back, a
   * prefetch released unstarted) does not count and a failed attempt does not reset it. 0:
   * not delivered since this coordinator loaded it (a restart forgets it; the next take sets it).
   * Not the time it entered the window: records wait there untaken (delayed, behind a cancel).
   */
  private firstAt = new Float64Array(64);
  /**
   * Cause and reason of each record held by the dead-letter writer, by offset (a Map: such
   * records are rare, and this is off the ack path). Persisted with the hold, so a reload
   * resumes the copy with the same headers.
   */
  private readonly deadLetterOf = new Map<number, { cause: DeadLetterCause; reason: string }>();
  /** Offsets handed to the dead-letter writer since the last drain (drainUpdate writes those still held). */
  private heldSinceDrain: number[] = [];
  /** Last progress of a held record (ShareProgress), by offset; dropped when the record leaves its holder. */
  private readonly progressOf = new Map<number, { value: string; at: number }>();
  /** The last RECENT_CANCELS cancelled offsets (insertion order), for the late settle's error. */
  private readonly recentCancels = new Set<number>();
  /** Lowest offset that may be AVAILABLE (all below are not): where acquire starts scanning. */
  private scanFrom: number;
  /** No lock expires before this (a lower bound; exact after each expire scan). */
  private nextDeadline = Infinity;
  /** No AVAILABLE record waiting for its time (backoff, delivery time) comes due before this (a lower bound). */
  private nextDue = Infinity;
  private inFlightCount = 0;
  private pendingRuns: StateRun[] = [];
  private startDirty = false;
  /** Set by a reset: the next drain writes the whole window, replacing the persisted one. */
  private replaceOnDrain = false;
  acked = 0;
  deadLettered = 0;
  redeliveries = 0;
  cancelled = 0;

  constructor(
    readonly group: string,
    readonly topic: string,
    readonly partition: number,
    /** Read on every call, so a config change applies at once. */
    private readonly cfg: () => Readonly<ShareGroupConfig>,
    startOffset: number,
  ) {
    this.base = this.startOff = this.endOff = this.scanFrom = startOffset;
  }

  get startOffset(): number {
    return this.startOff;
  }

  get endOffset(): number {
    return this.endOff;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Bytes held by the typed arrays (for the memory-bound test and metrics). */
  get capacity(): number {
    return this.state.length;
  }

  /** State of `offset` (AVAILABLE past the end, ACKED below the start: settled either way). */
  stateOf(offset: number): RecordStateValue {
    if (offset < this.startOff) return ACKED;
    if (offset >= this.endOff) return AVAILABLE;
    return this.state[offset - this.base] as RecordStateValue;
  }

  deliveryCountOf(offset: number): number {
    return offset >= this.startOff && offset < this.endOff ? this.count[offset - this.base] : 0;
  }

  ownerOf(offset: number): number {
    return offset >= this.startOff && offset < this.endOff && this.state[offset - this.base] === ACQUIRED ? this.owner[offset - this.base] : 0;
  }

  /**
   * Locks up to `max` records for `worker` and returns them as runs, lowest offsets first:
   * first records already in the window whose backoff passed, then new ones up to
   * `logEndOffset` (window permitting). `logStartOffset` lets retention move the start: records
   * deleted from the log are skipped (not counted as acked or dead-lettered).
   */
  acquire(worker: number, max: number, now: number, logEndOffset: number, logStartOffset = 0): AcquiredRange[] {
    if (logStartOffset > this.startOff) this.skipTo(Math.min(logStartOffset, logEndOffset));
    const out: AcquiredRange[] = [];
    if (max <= 0) return out;
    const cfg = this.cfg();
    const deadline = now + cfg.visibilityTimeoutMs;
    let got = 0;
    let firstDelayed = -1;
    for (let off = Math.max(this.scanFrom, this.startOff); off < this.endOff && got < max; off++) {
      const i = off - this.base;
      if (this.state[i] !== AVAILABLE) continue;
      if (this.time[i] > now) {
        if (firstDelayed < 0) firstDelayed = off;
        continue;
      }
      this.lock(i, worker, deadline, now);
      this.addRange(out, off, this.count[i]);
      got++;
    }
    // Everything scanned that was not taken or delayed is not AVAILABLE.
    const scannedTo = got < max ? this.endOff : (out.length ? out[out.length - 1].lastOffset + 1 : this.scanFrom);
    this.scanFrom = firstDelayed >= 0 ? firstDelayed : scannedTo;
    const limit = Math.min(logEndOffset, this.startOff + cfg.maxWindow);
    if (got < max && this.endOff < limit) {
      const n = Math.min(max - got, limit - this.endOff);
      const first = this.endOff;
      this.ensureRoom(first + n);
      for (let off = first; off < first + n; off++) {
        const i = off - this.base;
        this.state[i] = AVAILABLE;
        this.count[i] = 0;
        this.lock(i, worker, deadline, now);
        this.addRange(out, off, 1);
      }
      this.endOff = first + n;
      if (this.scanFrom === first) this.scanFrom = this.endOff;
    }
    for (const r of out) this.pendingRuns.push({ first: r.firstOffset, last: r.lastOffset, state: AVAILABLE, deliveryCount: r.deliveryCount });
    return out;
  }

  /** Marks records done. Throws InvalidRecordStateError (applying nothing) unless `worker` holds all of them. */
  ack(worker: number, offsets: readonly number[]): void {
    this.checkHeld(worker, offsets);
    for (const off of offsets) this.settle(off, ACKED);
    this.recordRuns(offsets);
    this.advance();
  }

  /**
   * Poison: the records go to the dead-letter writer (returned) and are never delivered to a
   * worker again (the hold is persisted: a reload resumes the copy).
   */
  reject(worker: number, offsets: readonly number[], reason = 'rejected'): DeadLetter[] {
    this.checkHeld(worker, offsets);
    const out: DeadLetter[] = [];
    for (const off of offsets) out.push(this.toDeadLetterWriter(off, 'rejected', reason));
    this.recordRuns(offsets);
    return out;
  }

  /**
   * The dead-letter copies of `offsets` are durably appended: archives those still waiting for
   * their copy (a record reset or deleted by retention meanwhile is left alone). Returns how
   * many were archived.
   */
  deadLettersWritten(offsets: readonly number[]): number {
    const done: number[] = [];
    for (const off of offsets) {
      if (!this.awaitingDeadLetter(off)) continue;
      this.settle(off, ARCHIVED);
      done.push(off);
    }
    this.recordRuns(done);
    this.advance();
    return done.length;
  }

  /** True while `offset` waits for its dead-letter copy (handed out by reject or a last failed attempt, not yet written). */
  awaitingDeadLetter(offset: number): boolean {
    if (offset < this.startOff || offset >= this.endOff) return false;
    const i = offset - this.base;
    return this.state[i] === ACQUIRED && this.owner[i] === DEAD_LETTER_WRITER;
  }

  /**
   * Gives records back. Kind `failed` (default) ends an attempt: the records are available
   * again after `delayMs`, or after the group's exponential backoff when `delayMs` is
   * undefined; records that used their last attempt are dead-lettered instead (returned).
   * Kind `unstarted` says the worker never began them (prefetched, then closed or stopped):
   * the acquisition is undone (delivery count back down by one, durable like any release),
   * so they are available after `delayMs` (default 0) and never dead-lettered for it.
   */
  release(worker: number, offsets: readonly number[], now: number, delayMs?: number, reason = 'released', kind: ReleaseKind = 'failed'): DeadLetter[] {
    this.checkHeld(worker, offsets);
    const out: DeadLetter[] = [];
    if (kind === 'unstarted') for (const off of offsets) this.unacquire(off, now + (delayMs ?? 0));
    else for (const off of offsets) this.failAttempt(off, now, reason, delayMs, out);
    this.recordRuns(offsets);
    this.advance();
    return out;
  }

  /** Pushes the lock deadline to now + `ms` (default visibilityTimeoutMs). Returns the new deadline. */
  extend(worker: number, offsets: readonly number[], now: number, ms?: number): number {
    this.checkHeld(worker, offsets);
    const deadline = now + (ms ?? this.cfg().visibilityTimeoutMs);
    for (const off of offsets) this.time[off - this.base] = deadline;
    return deadline;
  }

  /**
   * The holder reports progress on `offset` (kept in memory for describe) and, as with
   * extend(), its lock is pushed to now + visibilityTimeoutMs. Returns the new deadline.
   */
  progress(worker: number, offset: number, value: string, now: number): number {
    const deadline = this.extend(worker, [offset], now);
    this.progressOf.set(offset, { value, at: now });
    return deadline;
  }

  /**
   * An admin cancels `offsets` (see the file comment). Offsets at or past `logEndOffset` have
   * no record; one more than maxWindow past `start` cannot be tracked yet and is skipped,
   * naming why. Returns what was cancelled (and who held it) and what was not.
   */
  cancel(offsets: readonly number[], logEndOffset: number): CancelResult {
    const res: CancelResult = { cancelled: [], skipped: [] };
    const done: number[] = [];
    const limit = this.startOff + this.cfg().maxWindow;
    for (const off of new Set(offsets)) {
      let reason: string | null = null;
      if (off < this.startOff) reason = 'already settled';
      else if (off >= logEndOffset) reason = `no record at this offset (the log ends at ${logEndOffset})`;
      else if (off >= limit) reason = `more than maxWindow (${this.cfg().maxWindow}) past the group's position ${this.startOff}; cancel it once the group is closer`;
      if (reason === null && off >= this.endOff) this.widenTo(off + 1);
      const i = off - this.base;
      if (reason === null) {
        const st = this.state[i];
        if (st === CANCELLED) reason = 'already cancelled';
        else if (st === ACKED || st === ARCHIVED) reason = 'already settled';
        else if (st === ACQUIRED && this.owner[i] === DEAD_LETTER_WRITER) reason = 'already settled (waiting for its dead-letter copy)';
      }
      if (reason !== null) {
        res.skipped.push({ offset: off, reason });
        continue;
      }
      res.cancelled.push({ offset: off, worker: this.state[i] === ACQUIRED ? this.owner[i] : 0 });
      this.settle(off, CANCELLED);
      this.recentCancels.add(off);
      if (this.recentCancels.size > RECENT_CANCELS) this.recentCancels.delete(this.recentCancels.values().next().value!);
      done.push(off);
    }
    this.recordRuns(done);
    this.advance();
    return res;
  }

  /** Records workers hold now, lowest offset first, at most `limit` (the dead-letter writer's are not listed). */
  heldRecords(limit: number): HeldRecord[] {
    const out: HeldRecord[] = [];
    for (let off = this.startOff; off < this.endOff && out.length < limit && this.inFlightCount > 0; off++) {
      const i = off - this.base;
      if (this.state[i] !== ACQUIRED || this.owner[i] <= 0) continue;
      const p = this.progressOf.get(off);
      out.push({
        offset: off, worker: this.owner[i], since: this.since[i], deliveryCount: this.count[i], lockDeadline: this.time[i],
        ...(p && { progress: p.value, progressAt: p.at }),
      });
    }
    return out;
  }

  /**
   * Delayed and scheduled jobs: each [offset, dueAt] is a record whose delivery time (its
   * `sluice.deliver.at` header, read by the broker from the log) is after now. A record
   * `worker` just acquired for its first delivery is given back as never taken (delivery
   * count back down, not an attempt) and waits AVAILABLE until dueAt; one already given
   * back waits at least until dueAt. Anything else (settled, held by someone) is left
   * alone. Returns how many records were taken back from `worker`.
   */
  delay(worker: number, due: readonly (readonly [number, number])[]): number {
    const offsets: number[] = [];
    let taken = 0;
    for (const [off, dueAt] of due) {
      if (off < this.startOff || off >= this.endOff) continue;
      const i = off - this.base;
      if (this.state[i] === ACQUIRED && this.owner[i] === worker) {
        this.unacquire(off, dueAt);
        taken++;
      } else if (this.state[i] === AVAILABLE) {
        this.time[i] = Math.max(this.time[i], dueAt);
        if (dueAt < this.nextDue) this.nextDue = dueAt;
      } else continue;
      offsets.push(off);
    }
    this.recordRuns(offsets);
    return taken;
  }

  /** No lock of this partition expires before this (a lower bound; Infinity when none is held). */
  get lockDeadline(): number {
    return this.nextDeadline;
  }

  /** No record waiting for its time (backoff end, delivery time) becomes available before this (a lower bound). */
  get dueDeadline(): number {
    return this.nextDue;
  }

  /**
   * Once the earliest waiting record is due: finds the next one, so the broker's timer can
   * be armed for it (one timer for all partitions, not one per record). Cheap until then.
   */
  refreshDue(now: number): void {
    if (now < this.nextDue) return;
    let next = Infinity;
    for (let off = Math.max(this.scanFrom, this.startOff); off < this.endOff; off++) {
      const i = off - this.base;
      if (this.state[i] === AVAILABLE && this.time[i] > now && this.time[i] < next) next = this.time[i];
    }
    this.nextDue = next;
  }

  /** Ends every lock that ran out by `now` as a failed attempt. Cheap when nothing is due. */
  expire(now: number): ExpireResult {
    const res: ExpireResult = { expired: [], deadLetters: [] };
    if (now < this.nextDeadline) return res;
    let next = Infinity;
    for (let off = this.startOff; off < this.endOff; off++) {
      const i = off - this.base;
      if (this.state[i] !== ACQUIRED) continue;
      if (this.time[i] <= now) {
        res.expired.push(off);
        this.failAttempt(off, now, 'lock expired', undefined, res.deadLetters);
      } else if (this.time[i] < next) next = this.time[i];
    }
    this.nextDeadline = next;
    this.recordRuns(res.expired);
    this.advance();
    return res;
  }

  /** Releases everything `worker` holds, each as a failed attempt (it may have crashed on them). */
  workerGone(worker: number, now: number): ExpireResult {
    const res: ExpireResult = { expired: [], deadLetters: [] };
    if (this.inFlightCount === 0) return res;
    for (let off = this.startOff; off < this.endOff; off++) {
      const i = off - this.base;
      if (this.state[i] === ACQUIRED && this.owner[i] === worker) {
        res.expired.push(off);
        this.failAttempt(off, now, 'worker gone', undefined, res.deadLetters);
      }
    }
    this.recordRuns(res.expired);
    this.advance();
    return res;
  }

  /** The changes since the last drain, for the state log; null when nothing changed. */
  drainUpdate(): PartitionUpdate | null {
    if (this.pendingRuns.length === 0 && !this.startDirty && !this.replaceOnDrain) return null;
    const replace = this.replaceOnDrain;
    const runs = replace ? this.snapshotRuns() : this.pendingRuns;
    // Only the records still held at the drain: one handed over and archived since the last
    // drain has its ARCHIVED run in `runs`, after its AVAILABLE one, and needs no hold.
    const held = replace ? this.heldDeadLetters() : this.heldSinceDrain.length ? this.stillHeld(this.heldSinceDrain) : undefined;
    this.pendingRuns = [];
    this.heldSinceDrain = [];
    this.startDirty = this.replaceOnDrain = false;
    return {
      group: this.group, topic: this.topic, partition: this.partition, startOffset: this.startOff, runs,
      acked: this.acked, deadLettered: this.deadLettered, redeliveries: this.redeliveries, cancelled: this.cancelled,
      ...(held?.length ? { deadLettering: held } : {}), ...(replace ? { replace } : {}),
    };
  }

  /**
   * A fresh window at `startOffset` that takes over `old`'s totals (metrics count on), and
   * whose first drain replaces what the state log held for the partition.
   */
  static resetFrom(old: SharePartition | undefined, group: string, topic: string, partition: number,
    cfg: () => Readonly<ShareGroupConfig>, startOffset: number): SharePartition {
    const p = new SharePartition(group, topic, partition, cfg, startOffset);
    if (old) {
      p.acked = old.acked;
      p.deadLettered = old.deadLettered;
      p.redeliveries = old.redeliveries;
      p.cancelled = old.cancelled;
    }
    p.replaceOnDrain = true;
    return p;
  }

  /** Every record held for its dead-letter copy, lowest offset first (a snapshot writes them beside snapshotRuns()). */
  heldDeadLetters(): HeldDeadLetter[] {
    return this.deadLetterOf.size ? this.stillHeld([...this.deadLetterOf.keys()]) : [];
  }

  /**
   * The copies a coordinator that just loaded this state owes: every record held for its
   * dead-letter copy, as the DeadLetter its first attempt made (cause, reason, count; the
   * dead-letter topic of the group's config now).
   */
  deadLettersToResume(): DeadLetter[] {
    return this.heldDeadLetters().map((h) => this.deadLetter(h.offset, h.cause, h.reason));
  }

  /** The whole window as runs (acquired written as available), for a snapshot. */
  snapshotRuns(): StateRun[] {
    const runs: StateRun[] = [];
    for (let off = this.startOff; off < this.endOff; off++) {
      const i = off - this.base;
      const st = (this.state[i] === ACQUIRED ? AVAILABLE : this.state[i]) as RecordStateValue;
      const last = runs[runs.length - 1];
      if (last && last.last === off - 1 && last.state === st && last.deliveryCount === this.count[i]) last.last = off;
      else runs.push({ first: off, last: off, state: st, deliveryCount: this.count[i] });
    }
    return runs;
  }

  /**
   * Replays persisted state (snapshot or update) on load. Records come back AVAILABLE at
   * once (no backoff: the restart took time anyway) or settled. Counters are not touched:
   * the persisted records carry them. First delivery times are not persisted: a restored
   * record's age counts from its next take.
   */
  restore(startOffset: number, runs: readonly StateRun[], held: readonly HeldDeadLetter[] = []): void {
    for (const r of runs) {
      const first = Math.max(r.first, this.startOff);
      if (r.last < first) continue;
      if (r.last >= this.endOff) {
        this.ensureRoom(r.last + 1);
        for (let off = this.endOff; off <= r.last; off++) this.state[off - this.base] = AVAILABLE, this.count[off - this.base] = 0, this.time[off - this.base] = 0;
        this.endOff = r.last + 1;
      }
      for (let off = first; off <= r.last; off++) {
        const i = off - this.base;
        // Replayed state can only be ACQUIRED as a hold of an earlier record: a later run replaces it.
        if (this.state[i] === ACQUIRED) this.unhold(off);
        this.state[i] = r.state === ACQUIRED ? AVAILABLE : r.state;
        this.count[i] = r.deliveryCount;
        this.time[i] = 0;
        this.owner[i] = 0;
        this.firstAt[i] = 0;
      }
    }
    // Holds come after the runs of the same record (which write those records AVAILABLE, what
    // a broker that predates holds reads). A hold whose record is not AVAILABLE in the window
    // contradicts its own runs and is ignored.
    for (const h of held) {
      if (h.offset < this.startOff || h.offset >= this.endOff) continue;
      const i = h.offset - this.base;
      if (this.state[i] !== AVAILABLE) continue;
      this.state[i] = ACQUIRED;
      this.owner[i] = DEAD_LETTER_WRITER;
      this.time[i] = Infinity;
      // Unknown since this load, and it will not be delivered again: not counted in the
      // oldest unacked age (describe compares firstAt with `<`).
      this.firstAt[i] = Infinity;
      this.inFlightCount++;
      this.deadLetterOf.set(h.offset, { cause: h.cause, reason: h.reason });
    }
    if (startOffset > this.startOff) this.skipTo(startOffset);
    this.scanFrom = this.startOff;
    this.advance();
    this.pendingRuns = [];
    this.heldSinceDrain = [];
    this.startDirty = false;
  }

  describe(now: number): PartitionDescription {
    let available = 0;
    let delayed = 0;
    // Age of the oldest record in flight, from its first delivery (firstAt); records waiting
    // for a retry are not in flight, so with none held it is 0. Not the lowest offset held:
    // a delayed job, or one given back unstarted, is delivered after higher offsets.
    let firstDelivered = Infinity;
    for (let off = this.startOff; off < this.endOff; off++) {
      const i = off - this.base;
      const st = this.state[i];
      if (st === ACQUIRED) {
        if (this.firstAt[i] < firstDelivered) firstDelivered = this.firstAt[i];
        continue;
      }
      if (st !== AVAILABLE) continue;
      available++;
      if (this.time[i] > now) delayed++;
    }
    const oldest = firstDelivered === Infinity ? 0 : Math.max(0, now - firstDelivered);
    return {
      startOffset: this.startOff, endOffset: this.endOff, available, delayed, inFlight: this.inFlightCount,
      acked: this.acked, deadLettered: this.deadLettered, redeliveries: this.redeliveries, cancelled: this.cancelled, oldestUnackedMs: oldest,
    };
  }

  // --- internals ----------------------------------------------------------------

  private lock(i: number, worker: number, deadline: number, now: number): void {
    // A record given back unstarted was counted as a redelivery when it was taken (if it was
    // one); taking it again is the same redelivery, not another.
    if (this.count[i] > 0 && this.owner[i] !== GIVEN_BACK) this.redeliveries++;
    if (this.count[i] === 0 || this.firstAt[i] === 0) this.firstAt[i] = now;
    this.state[i] = ACQUIRED;
    this.owner[i] = worker;
    this.time[i] = deadline;
    this.since[i] = now;
    if (this.progressOf.size) this.progressOf.delete(i + this.base);
    if (this.count[i] < MAX_COUNT) this.count[i]++;
    this.inFlightCount++;
    if (deadline < this.nextDeadline) this.nextDeadline = deadline;
  }

  private addRange(out: AcquiredRange[], off: number, deliveryCount: number): void {
    const last = out[out.length - 1];
    if (last && last.lastOffset === off - 1 && last.deliveryCount === deliveryCount) last.lastOffset = off;
    else out.push({ firstOffset: off, lastOffset: off, deliveryCount });
  }

  /** Throws InvalidRecordStateError unless `worker` holds every offset (each listed once). */
  checkHeld(worker: number, offsets: readonly number[]): void {
    for (const off of offsets) {
      let problem: string | null = null;
      if (!Number.isSafeInteger(off)) problem = 'not an offset';
      else if (off < this.startOff) problem = this.recentCancels.has(off) ? CANCELLED_PROBLEM : 'already settled';
      else if (off >= this.endOff) problem = 'never acquired';
      else {
        const i = off - this.base;
        const st = this.state[i];
        if (st === CANCELLED) problem = CANCELLED_PROBLEM;
        else if (st === ACKED || st === ARCHIVED) problem = 'already settled';
        else if (st === AVAILABLE) problem = 'not acquired (its lock may have expired)';
        else if (this.owner[i] === DEAD_LETTER_WRITER) problem = 'already settled (waiting for its dead-letter copy)';
        else if (this.owner[i] !== worker) problem = 'acquired by another worker';
      }
      if (problem) throw new InvalidRecordStateError(this.group, this.topic, this.partition, off, problem);
    }
    // A duplicate offset would be settled twice. Offsets in increasing order (what clients
    // send) have none: only others pay for a Set (this runs twice per ack request, in the
    // coordinator's all-or-nothing check and again in ack()).
    if (offsets.length > 1 && !strictlyIncreasing(offsets) && new Set(offsets).size !== offsets.length) {
      const seen = new Set<number>();
      for (const off of offsets) {
        if (seen.has(off)) throw new InvalidRecordStateError(this.group, this.topic, this.partition, off, 'listed twice');
        seen.add(off);
      }
    }
  }

  private settle(off: number, st: typeof ACKED | typeof ARCHIVED | typeof CANCELLED): void {
    const i = off - this.base;
    if (this.state[i] === ACQUIRED) this.inFlightCount--;
    if (this.deadLetterOf.size) this.deadLetterOf.delete(off);
    this.state[i] = st;
    this.owner[i] = 0;
    if (this.progressOf.size) this.progressOf.delete(off);
    if (st === ACKED) this.acked++;
    else if (st === CANCELLED) this.cancelled++;
    else this.deadLettered++;
  }

  private failAttempt(off: number, now: number, reason: string, delayMs: number | undefined, dead: DeadLetter[]): void {
    const i = off - this.base;
    const cfg = this.cfg();
    if (this.count[i] >= cfg.maxDeliveries) {
      dead.push(this.toDeadLetterWriter(off, 'max-deliveries', reason));
      return;
    }
    this.inFlightCount--;
    this.state[i] = AVAILABLE;
    this.owner[i] = 0;
    if (this.progressOf.size) this.progressOf.delete(off);
    this.time[i] = now + (delayMs ?? backoffMs(cfg, this.count[i]));
    if (this.time[i] < this.nextDue) this.nextDue = this.time[i];
    if (off < this.scanFrom) this.scanFrom = off;
  }

  /**
   * Undoes an acquisition the worker never started: the count goes back to what it was before
   * it. The redelivery total is a counter and stays; the next take of the record does not add
   * to it again (GIVEN_BACK). A count at MAX_COUNT stayed there on acquisition, so it stays
   * here too.
   */
  private unacquire(off: number, notBefore: number): void {
    const i = off - this.base;
    this.inFlightCount--;
    this.state[i] = AVAILABLE;
    if (this.progressOf.size) this.progressOf.delete(off);
    if (this.count[i] > 0 && this.count[i] < MAX_COUNT) this.count[i]--;
    // Marks (until the next lock) that this take was already counted as a redelivery.
    this.owner[i] = this.count[i] > 0 ? GIVEN_BACK : 0;
    this.time[i] = notBefore;
    if (notBefore < this.nextDue) this.nextDue = notBefore;
    if (off < this.scanFrom) this.scanFrom = off;
  }

  /**
   * Hands an ACQUIRED record's lock to the dead-letter writer: no deadline (the broker retries
   * a failed copy itself), still in flight, archived by deadLettersWritten().
   */
  private toDeadLetterWriter(off: number, cause: DeadLetterCause, reason: string): DeadLetter {
    const i = off - this.base;
    this.owner[i] = DEAD_LETTER_WRITER;
    this.time[i] = Infinity;
    // The copy cuts the reason to MAX_REASON_LENGTH anyway; the persisted hold keeps no more.
    this.deadLetterOf.set(off, { cause, reason: reason.length > MAX_REASON_LENGTH ? reason.slice(0, MAX_REASON_LENGTH) : reason });
    this.heldSinceDrain.push(off);
    return this.deadLetter(off, cause, reason);
  }

  /** The holds of `offsets` that are still held, lowest offset first, each once. */
  private stillHeld(offsets: readonly number[]): HeldDeadLetter[] {
    const out: HeldDeadLetter[] = [];
    for (const off of offsets.length > 1 ? [...new Set(offsets)].sort((a, b) => a - b) : offsets) {
      const h = this.deadLetterOf.get(off);
      if (h && this.awaitingDeadLetter(off)) out.push({ offset: off, cause: h.cause, reason: h.reason });
    }
    return out;
  }

  /** A replayed hold replaced by a later run: no longer in flight. */
  private unhold(off: number): void {
    this.inFlightCount--;
    this.deadLetterOf.delete(off);
  }

  private deadLetter(off: number, cause: DeadLetterCause, reason: string): DeadLetter {
    const cfg = this.cfg();
    return {
      group: this.group, topic: this.topic, partition: this.partition, offset: off,
      deliveryCount: this.count[off - this.base], cause, reason,
      deadLetterTopic: cfg.deadLetterTopic ?? `${this.topic}.dlq`,
    };
  }

  /** Persists the current state of `offsets` as runs (sorted, merged). */
  private recordRuns(offsets: readonly number[]): void {
    if (offsets.length === 0) return;
    const sorted = offsets.length > 1 ? [...offsets].sort((a, b) => a - b) : offsets;
    let run: StateRun | null = null;
    for (const off of sorted) {
      const i = off - this.base;
      const st = (this.state[i] === ACQUIRED ? AVAILABLE : this.state[i]) as RecordStateValue;
      if (run && run.last === off - 1 && run.state === st && run.deliveryCount === this.count[i]) run.last = off;
      else this.pendingRuns.push((run = { first: off, last: off, state: st, deliveryCount: this.count[i] }));
    }
  }

  /** Moves `start` over settled records. */
  private advance(): void {
    const before = this.startOff;
    while (this.startOff < this.endOff) {
      const st = this.state[this.startOff - this.base];
      if (st !== ACKED && st !== ARCHIVED && st !== CANCELLED) break;
      this.startOff++;
    }
    if (this.startOff !== before) {
      this.startDirty = true;
      if (this.scanFrom < this.startOff) this.scanFrom = this.startOff;
      if (this.startOff === this.endOff) {
        this.base = this.startOff; // empty window: reuse the arrays from index 0
      }
    }
  }

  /** Takes offsets up to `endExclusive` into the window, untaken (AVAILABLE, count 0), as acquire does. */
  private widenTo(endExclusive: number): void {
    this.ensureRoom(endExclusive);
    for (let off = this.endOff; off < endExclusive; off++) {
      const i = off - this.base;
      this.state[i] = AVAILABLE;
      this.count[i] = 0;
      this.time[i] = 0;
      this.owner[i] = 0;
    }
    this.endOff = endExclusive;
  }

  /** Drops the window below `offset` (log retention deleted those records). */
  private skipTo(offset: number): void {
    for (let off = this.startOff; off < Math.min(offset, this.endOff); off++) {
      const i = off - this.base;
      if (this.state[i] === ACQUIRED) this.inFlightCount--;
      if (this.deadLetterOf.size) this.deadLetterOf.delete(off);
    }
    if (offset >= this.endOff) {
      this.base = this.startOff = this.endOff = offset;
    } else {
      this.startOff = offset;
    }
    if (this.scanFrom < this.startOff) this.scanFrom = this.startOff;
    this.startDirty = true;
    this.advance();
  }

  /** Makes index `endExclusive - 1 - base` valid, shifting the dead prefix out or growing. */
  private ensureRoom(endExclusive: number): void {
    if (endExclusive - this.base <= this.state.length) return;
    if (this.startOff > this.base) {
      const shift = this.startOff - this.base;
      const live = this.endOff - this.startOff;
      this.state.copyWithin(0, shift, shift + live);
      this.count.copyWithin(0, shift, shift + live);
      this.time.copyWithin(0, shift, shift + live);
      this.owner.copyWithin(0, shift, shift + live);
      this.since.copyWithin(0, shift, shift + live);
      this.firstAt.copyWithin(0, shift, shift + live);
      this.base = this.startOff;
      if (endExclusive - this.base <= this.state.length) return;
    }
    let cap = this.state.length;
    while (cap < endExclusive - this.base) cap *= 2;
    const grow = <T extends Uint8Array | Uint16Array | Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.state = grow(this.state, (n) => new Uint8Array(n));
    this.count = grow(this.count, (n) => new Uint16Array(n));
    this.time = grow(this.time, (n) => new Float64Array(n));
    this.owner = grow(this.owner, (n) => new Int32Array(n));
    this.since = grow(this.since, (n) => new Float64Array(n));
    this.firstAt = grow(this.firstAt, (n) => new Float64Array(n));
  }
}

function strictlyIncreasing(offsets: readonly number[]): boolean {
  for (let i = 1; i < offsets.length; i++) if (!(offsets[i] > offsets[i - 1])) return false;
  return true;
}
