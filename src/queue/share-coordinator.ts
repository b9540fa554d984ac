/**
 * The queue-mode coordinator: every share group of the broker. Pure: the broker passes in
 * the log offsets it knows, reads the bytes of acquired records itself, appends returned
 * dead letters to their topics, and writes `drainChanges()` to the state log
 * (share-state-log.ts) before answering a worker. Time comes from the injected clock.
 *
 * Fair hand-out: an acquire spreads `max` over the partitions that have work, starting at a
 * partition that rotates per call, so one busy partition cannot starve the others. Across
 * workers, fairness is pull-based: a worker gets what it asks for when it asks, so a worker
 * that finishes faster (acquires more often) gets more records, as with SQS or RabbitMQ
 * prefetch.
 */
import { InvalidRecordStateError, InvalidShareRequestError, NonEmptyShareGroupError, UnknownShareGroupError, UnknownShareWorkerError } from './errors.js';
import { resolveShareConfig } from './share-config.js';
import { ShareGroup } from './share-group.js';
import type { LimitName } from './group-limits.js';
import type { HeldRecord, PartitionDescription, ShareCounts, SharePartition } from './share-partition.js';
import {
  DEFAULT_SHARE_GROUP_CONFIG, parseTpKey, systemClock, tpKey, type AcquiredRange, type Clock, type DeadLetter,
  type PartitionUpdate, type ReleaseKind, type ShareGroupConfig,
} from './types.js';

/** What the broker knows about a partition a worker reads. */
export interface PartitionSource {
  topic: string;
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
}

export interface AcquiredPartition {
  topic: string;
  partition: number;
  ranges: AcquiredRange[];
  /** How many of these records are redeliveries (not the first delivery, nor a retake of a give-back). */
  redelivered: number;
  /** When the locks of these records expire (ms since epoch): the deadline the worker must extend before. */
  lockDeadline: number;
}

export interface ShareChanges {
  /** Groups deleted since the last drain (written before the configs and updates). */
  deleted: string[];
  /** Share-partitions forgotten since the last drain (their topic was deleted); written after the group deletes. */
  dropped: { group: string; topic: string; partition: number }[];
  updates: PartitionUpdate[];
  /** Groups whose config changed (or were created) since the last drain. */
  configs: { group: string; config: ShareGroupConfig }[];
}

/** `available` counts the windows plus the backlog not yet taken in (up to the last log end seen). */
export interface ShareGroupDescription extends ShareCounts {
  groupId: string;
  config: ShareGroupConfig;
  workers: { workerId: string; lastSeenMsAgo: number; inFlight: number; acquired: number }[];
  partitions: (PartitionDescription & { topic: string; partition: number; backlog: number })[];
}

/** A record a worker holds now, for `describe --jobs` (see SharePartition.heldRecords). */
export interface HeldJob extends Omit<HeldRecord, 'worker'> {
  topic: string;
  partition: number;
  workerId: string;
}

/** What a cancel did on one partition: offsets cancelled (with their holder's id when a worker held one) and skipped. */
export interface ShareCancelResult {
  topic: string;
  partition: number;
  cancelled: { offset: number; workerId?: string }[];
  skipped: { offset: number; reason: string }[];
}

export interface ShareOffsetReset {
  topic: string;
  partition: number;
  /** The share-partition start before the reset; -1 when the group had not read it. */
  from: number;
  to: number;
}

/** What one group held of a deleted topic (topicDeleted). */
export interface DroppedTopicState {
  group: string;
  topic: string;
  /** Each share-partition's start (the group had settled everything below) and the records its workers held. */
  partitions: { partition: number; startOffset: number; inFlight: number }[];
}

export interface SettleTarget {
  topic: string;
  partition: number;
  offsets: readonly number[];
}

export interface ShareCoordinatorOptions {
  clock?: Clock;
  /** Called when a group-wide limit cut an acquire short (for the sluice_share_limited_total metric). */
  onLimited?: (groupId: string, limit: LimitName) => void;
  /** Config of a group created implicitly (first acquire); broker settings. */
  defaults?: Partial<ShareGroupConfig>;
}

/**
 * Ids and numbers arrive checked: every caller is a broker handler of a request the api
 * schema passed (protocol/api-table.ts: group and worker ids 1..255 characters, maxRecords,
 * delayMs and extendMs in range, targets and offsets arrays), so they are not checked again
 * here. What needs the group's state is: unknown group or worker, records not held.
 */
export class ShareCoordinator {
  private readonly groupsMap = new Map<string, ShareGroup>();
  private deletedSinceDrain: string[] = [];
  private droppedSinceDrain: ShareChanges['dropped'] = [];
  private readonly clock: Clock;
  private readonly onLimited: ((groupId: string, limit: LimitName) => void) | undefined;
  readonly defaults: Readonly<ShareGroupConfig>;

  constructor(opts: ShareCoordinatorOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.onLimited = opts.onLimited;
    this.defaults = Object.freeze(resolveShareConfig(DEFAULT_SHARE_GROUP_CONFIG, opts.defaults));
  }

  /** Creates the group or changes its config (validated; INVALID_CONFIG names the field). */
  configure(groupId: string, patch: Partial<ShareGroupConfig> = {}): ShareGroupConfig {
    const g = this.groupsMap.get(groupId);
    const config = resolveShareConfig(g?.config ?? this.defaults, patch);
    if (g) g.config = config;
    const group = g ?? this.addGroup(groupId, config);
    group.configDirty = true;
    return config;
  }

  groups(): string[] {
    return [...this.groupsMap.keys()].sort();
  }

  group(groupId: string): ShareGroup | undefined {
    return this.groupsMap.get(groupId);
  }

  /**
   * Deletes a group with no workers: its state (which records were acked, dead-lettered or
   * are owed a retry) and config. A worker that comes later starts a new group, from
   * `startFrom`. GROUP_ID_NOT_FOUND when unknown, NON_EMPTY_GROUP while workers are in it.
   */
  deleteGroup(groupId: string): void {
    const g = this.groupsMap.get(groupId);
    if (!g) throw new UnknownShareGroupError(groupId);
    if (g.workers.size > 0) throw new NonEmptyShareGroupError(groupId, g.workers.size);
    this.groupsMap.delete(groupId);
    this.deletedSinceDrain.push(groupId);
  }

  /**
   * Moves where the group reads each named partition (Kafka's kafka-share-groups
   * --reset-offsets): the partition's state is forgotten and records from `offset` on are
   * delivered again, acked or not, with delivery count 1. Only while the group has no
   * workers (NON_EMPTY_GROUP): a worker holding a record of the old window could not settle
   * it. Creates the group with defaults when unknown, so a group can be placed before its
   * first worker starts. Offsets are the caller's to clamp to the log. Returns each
   * partition's start before (-1: the group had not read it) and after.
   */
  resetOffsets(groupId: string, targets: readonly { topic: string; partition: number; offset: number; logEndOffset?: number }[]): ShareOffsetReset[] {
    // Kept: these offsets are the handler's (clamped to the log, or found by timestamp), not
    // a request field the schema checked.
    for (const t of targets) {
      if (!Number.isInteger(t.offset) || t.offset < 0) throw new InvalidShareRequestError(`reset offset must be a non-negative integer, got ${t.offset}`);
    }
    const existing = this.groupsMap.get(groupId);
    if (existing && existing.workers.size > 0) throw new NonEmptyShareGroupError(groupId, existing.workers.size);
    const g = existing ?? this.ensureGroup(groupId);
    return targets.map(({ topic, partition, offset, logEndOffset }) => {
      const from = g.existing(topic, partition)?.startOffset ?? -1;
      g.resetPartition(topic, partition, offset);
      // So describe (and the available-records metric) counts the backlog before any acquire.
      if (logEndOffset !== undefined) g.logEnds.set(tpKey(topic, partition), logEndOffset);
      return { topic, partition, from, to: offset };
    });
  }

  /**
   * A topic was deleted: every group forgets its share-partitions of it, window, counters
   * and locks. Records workers held are let go without counting an attempt and without dead
   * letters (their log is gone: there is nothing to redeliver or copy); a worker settling one
   * later gets INVALID_RECORD_STATE. The forgetting is persisted (drainChanges().dropped).
   * Returns what each group held, for the broker to log.
   */
  topicDeleted(topic: string): DroppedTopicState[] {
    const out: DroppedTopicState[] = [];
    for (const g of this.groupsMap.values()) {
      const partitions: DroppedTopicState['partitions'] = [];
      for (const [key, p] of g.partitions) {
        if (p.topic !== topic) continue;
        partitions.push({ partition: p.partition, startOffset: p.startOffset, inFlight: p.inFlight });
        g.partitions.delete(key);
        g.logEnds.delete(key);
        this.droppedSinceDrain.push({ group: g.id, topic, partition: p.partition });
      }
      if (partitions.length) out.push({ group: g.id, topic, partitions: partitions.sort((a, b) => a.partition - b.partition) });
    }
    return out;
  }

  /** Groups that hold state for some partition of `topic` (they have read it). */
  groupsReading(topic: string): string[] {
    const out: string[] = [];
    for (const g of this.groupsMap.values()) {
      for (const p of g.partitions.values()) {
        if (p.topic === topic) {
          out.push(g.id);
          break;
        }
      }
    }
    return out.sort();
  }

  /**
   * Places an existing group on partitions it has not read at `offset` each, whatever its
   * startFrom: the partitions of a re-created topic start over at the new log's start, and
   * partitions added to a topic the group reads start at their beginning (records produced
   * there before the group's next acquire are not skipped). A partition the group already
   * holds is left alone. Persisted as a replacing window, so it survives a restart.
   */
  startPartitionsAt(groupId: string, topic: string, targets: readonly { partition: number; offset: number; logEndOffset: number }[]): void {
    const g = this.groupsMap.get(groupId);
    if (!g) return;
    for (const t of targets) {
      if (g.existing(topic, t.partition)) continue;
      g.resetPartition(topic, t.partition, t.offset);
      g.logEnds.set(tpKey(topic, t.partition), t.logEndOffset);
    }
  }

  /** Keeps a worker alive without acquiring. Creates the group with defaults when new. */
  heartbeat(groupId: string, workerId: string): void {
    this.ensureGroup(groupId).worker(workerId, this.clock.now());
  }

  /**
   * Locks up to `max` records for the worker across `sources`, spread fairly. Registers or
   * refreshes the worker. Returns only partitions that gave something, each with the lock
   * deadline set here (the broker answers with it, not with a time it computes later).
   */
  acquire(groupId: string, workerId: string, sources: readonly PartitionSource[], max: number): AcquiredPartition[] {
    const now = this.clock.now();
    const g = this.ensureGroup(groupId);
    const w = g.worker(workerId, now);
    const out: AcquiredPartition[] = [];
    const n = sources.length;
    if (n === 0 || max === 0) return out;
    // Group-wide limits (group-limits.ts): the whole group's rate and records held, whoever asks.
    const allowed = g.limits.allowance(g.config, max, g.inFlight(), now);
    if (allowed.limitedBy) this.onLimited?.(groupId, allowed.limitedBy);
    max = allowed.n;
    if (max === 0) return out;
    const start = g.cursor++ % n;
    let left = max;
    const got = new Map<number, AcquiredRange[]>();
    const redelivered = new Map<number, number>();
    // Pass 1: an equal share each; pass 2: what is left, in the same order.
    for (let pass = 0; pass < 2 && left > 0; pass++) {
      for (let k = 0; k < n && left > 0; k++) {
        const idx = (start + k) % n;
        const s = sources[idx];
        const p = g.partition(s.topic, s.partition, s.logStartOffset, s.logEndOffset);
        g.logEnds.set(tpKey(s.topic, s.partition), s.logEndOffset);
        const quota = pass === 0 ? Math.ceil(left / (n - k)) : left;
        const before = p.redeliveries;
        const ranges = p.acquire(w.handle, quota, now, s.logEndOffset, s.logStartOffset);
        if (ranges.length === 0) continue;
        redelivered.set(idx, (redelivered.get(idx) ?? 0) + p.redeliveries - before);
        let c = 0;
        for (const r of ranges) c += r.lastOffset - r.firstOffset + 1;
        left -= c;
        w.acquired += c;
        const prev = got.get(idx);
        if (prev) prev.push(...ranges);
        else got.set(idx, ranges);
      }
    }
    g.limits.took(g.config, max - left);
    // The deadline SharePartition.acquire gave every lock of this call (same clock reading, same config).
    const lockDeadline = now + g.config.visibilityTimeoutMs;
    for (const [idx, ranges] of [...got].sort((a, b) => a[0] - b[0])) {
      out.push({ topic: sources[idx].topic, partition: sources[idx].partition, ranges, redelivered: redelivered.get(idx) ?? 0, lockDeadline });
    }
    return out;
  }

  ack(groupId: string, workerId: string, targets: readonly SettleTarget[]): void {
    const { g, w } = this.settleContext(groupId, workerId, targets);
    for (const t of targets) this.held(g, t).ack(w, t.offsets);
  }

  /**
   * Rejects (poison): the returned dead letters must be appended to their topics, then
   * reported with deadLettersWritten(), which archives the records.
   */
  reject(groupId: string, workerId: string, targets: readonly SettleTarget[], reason?: string): DeadLetter[] {
    const { g, w } = this.settleContext(groupId, workerId, targets);
    const out: DeadLetter[] = [];
    for (const t of targets) out.push(...this.held(g, t).reject(w, t.offsets, reason));
    return out;
  }

  /**
   * The broker durably appended the dead-letter copies of `dls`: archives the records still
   * waiting for them (see SharePartition, "Dead-lettering takes two steps"). A dead letter
   * whose group or partition was deleted or reset meanwhile is ignored. Returns how many
   * records were archived.
   */
  deadLettersWritten(dls: readonly DeadLetter[]): number {
    let n = 0;
    for (const [key, offsets] of byPartition(dls)) {
      const [group, topic, partition] = JSON.parse(key) as [string, string, number];
      n += this.groupsMap.get(group)?.existing(topic, partition)?.deadLettersWritten(offsets) ?? 0;
    }
    return n;
  }

  /** True while the record of `dl` still waits for its dead-letter copy (a retry is still owed). */
  awaitingDeadLetter(dl: DeadLetter): boolean {
    return this.groupsMap.get(dl.group)?.existing(dl.topic, dl.partition)?.awaitingDeadLetter(dl.offset) ?? false;
  }

  /**
   * The dead-letter copies a coordinator that just loaded its state owes: every record the
   * state log holds for its copy (rejected or out of attempts, the copy not yet durable).
   * The broker writes them as it retries a failed copy, and never hands those records out.
   */
  deadLettersToResume(): DeadLetter[] {
    const out: DeadLetter[] = [];
    for (const g of this.groupsMap.values()) for (const p of g.partitions.values()) out.push(...p.deadLettersToResume());
    return out;
  }

  /**
   * Gives records back (delayMs undefined: the group's backoff; kind `unstarted`: not an
   * attempt, see SharePartition.release). Returns records out of attempts.
   */
  release(groupId: string, workerId: string, targets: readonly SettleTarget[], opts: { delayMs?: number | undefined; reason?: string | undefined; kind?: ReleaseKind | undefined } = {}): DeadLetter[] {
    const { g, w } = this.settleContext(groupId, workerId, targets);
    const now = this.clock.now();
    const out: DeadLetter[] = [];
    for (const t of targets) out.push(...this.held(g, t).release(w, t.offsets, now, opts.delayMs, opts.reason, opts.kind));
    return out;
  }

  /**
   * The worker reports progress on a record it holds (`value` is opaque here: the broker
   * bounds its size) and its lock is extended as extend() does. Returns the new deadline.
   */
  progress(groupId: string, workerId: string, topic: string, partition: number, offset: number, value: string): number {
    const target = { topic, partition, offsets: [offset] };
    const { g, w } = this.settleContext(groupId, workerId, [target]);
    return this.held(g, target).progress(w, offset, value, this.clock.now());
  }

  /**
   * An admin cancels records of a group (SharePartition.cancel): those not yet taken are never
   * delivered, those a worker holds are settled as cancelled and returned with the holder's id
   * (the broker tells that worker). GROUP_ID_NOT_FOUND for an unknown group; a partition the
   * group has not read yet is placed as an acquire would place it (its startFrom).
   */
  cancel(groupId: string, source: PartitionSource, offsets: readonly number[]): ShareCancelResult {
    const g = this.groupsMap.get(groupId);
    if (!g) throw new UnknownShareGroupError(groupId);
    const p = g.partition(source.topic, source.partition, source.logStartOffset, source.logEndOffset);
    const res = p.cancel(offsets, source.logEndOffset);
    const ids = res.cancelled.some((c) => c.worker > 0) ? workerIds(g) : undefined;
    return {
      topic: source.topic, partition: source.partition, skipped: res.skipped,
      cancelled: res.cancelled.map((c) => {
        const workerId = c.worker > 0 ? ids?.get(c.worker) : undefined;
        return workerId === undefined ? { offset: c.offset } : { offset: c.offset, workerId };
      }),
    };
  }

  /** The records workers of the group hold now (at most `limit`, by partition then offset). */
  heldJobs(groupId: string, limit: number): HeldJob[] {
    const g = this.groupsMap.get(groupId);
    if (!g) throw new UnknownShareGroupError(groupId);
    const ids = workerIds(g);
    const out: HeldJob[] = [];
    for (const [key, p] of [...g.partitions].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (out.length >= limit) break;
      const tp = parseTpKey(key);
      for (const { worker, ...r } of p.heldRecords(limit - out.length)) out.push({ ...tp, ...r, workerId: ids.get(worker) ?? `#${worker}` });
    }
    return out;
  }

  /** Pushes lock deadlines to now + ms (default visibilityTimeoutMs); returns the new deadline. */
  extend(groupId: string, workerId: string, targets: readonly SettleTarget[], ms?: number): number {
    const { g, w } = this.settleContext(groupId, workerId, targets);
    const now = this.clock.now();
    let deadline = now;
    for (const t of targets) deadline = this.held(g, t).extend(w, t.offsets, now, ms);
    return deadline;
  }

  /** The worker leaves: everything it still holds is released as a failed attempt. */
  leave(groupId: string, workerId: string): DeadLetter[] {
    const g = this.groupsMap.get(groupId);
    const w = g?.workers.get(workerId);
    if (!g || !w) return [];
    return this.removeWorker(g, workerId, w.handle, this.clock.now());
  }

  /**
   * Records `workerId` just acquired on topic/partition whose delivery time has not come
   * ([offset, dueAt] pairs, read by the broker from their `sluice.deliver.at` headers), or
   * whose bytes the broker could not read for the answer (dueAt: when to try again): they
   * are taken back as never delivered and wait until dueAt (SharePartition.delay). Returns
   * how many were taken back; the broker leaves them out of the worker's answer.
   */
  delay(groupId: string, workerId: string, topic: string, partition: number, due: readonly (readonly [number, number])[]): number {
    const g = this.groupsMap.get(groupId);
    const w = g?.workers.get(workerId);
    const p = g?.existing(topic, partition);
    if (!g || !p || due.length === 0) return 0;
    const taken = p.delay(w?.handle ?? 0, due);
    if (w) w.acquired -= taken;
    g.limits.refund(g.config, taken);
    return taken;
  }

  /**
   * When the broker should next look at the coordinator (tick): the earliest lock deadline,
   * time a waiting record comes due, or time a rate-limited group has a token again, over
   * every group (a lower bound; Infinity when none).
   */
  nextWakeAt(): number {
    let next = Infinity;
    const now = this.clock.now();
    for (const g of this.groupsMap.values()) {
      next = Math.min(next, g.limits.wakeAt(now));
      for (const p of g.partitions.values()) next = Math.min(next, p.lockDeadline, p.dueDeadline);
    }
    return next;
  }

  /** The earliest a held lock can expire, over every group (a lower bound; Infinity when none is held). */
  nextLockDeadline(): number {
    let next = Infinity;
    for (const g of this.groupsMap.values()) for (const p of g.partitions.values()) next = Math.min(next, p.lockDeadline);
    return next;
  }

  /**
   * Housekeeping, to run every few hundred ms: removes workers silent for their session
   * timeout (releasing their records) and ends expired locks. Returns the dead letters.
   */
  tick(): DeadLetter[] {
    const now = this.clock.now();
    const out: DeadLetter[] = [];
    for (const g of this.groupsMap.values()) {
      for (const [id, w] of [...g.workers]) {
        if (now - w.lastSeen >= g.config.sessionTimeoutMs) out.push(...this.removeWorker(g, id, w.handle, now));
      }
      for (const p of g.partitions.values()) {
        out.push(...p.expire(now).deadLetters);
        p.refreshDue(now);
      }
    }
    return out;
  }

  /** State changes since the last drain, for the state log. */
  drainChanges(): ShareChanges {
    const changes: ShareChanges = { deleted: this.deletedSinceDrain, dropped: this.droppedSinceDrain, updates: [], configs: [] };
    this.deletedSinceDrain = [];
    this.droppedSinceDrain = [];
    for (const g of this.groupsMap.values()) {
      if (g.configDirty) {
        changes.configs.push({ group: g.id, config: g.config });
        g.configDirty = false;
      }
      for (const p of g.partitions.values()) {
        const u = p.drainUpdate();
        if (u) changes.updates.push(u);
      }
    }
    return changes;
  }

  describe(groupId: string): ShareGroupDescription {
    const g = this.groupsMap.get(groupId);
    if (!g) throw new UnknownShareGroupError(groupId);
    const now = this.clock.now();
    const d: ShareGroupDescription = {
      groupId, config: g.config, workers: [], available: 0, delayed: 0, inFlight: 0, acked: 0, deadLettered: 0,
      redeliveries: 0, cancelled: 0, oldestUnackedMs: 0, partitions: [],
    };
    const perWorker = new Map<number, number>();
    for (const [key, p] of [...g.partitions].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const pd = p.describe(now);
      const backlog = Math.max(0, (g.logEnds.get(key) ?? pd.endOffset) - pd.endOffset);
      d.partitions.push({ ...parseTpKey(key), ...pd, backlog });
      d.available += pd.available + backlog;
      d.delayed += pd.delayed;
      d.inFlight += pd.inFlight;
      d.acked += pd.acked;
      d.deadLettered += pd.deadLettered;
      d.redeliveries += pd.redeliveries;
      d.cancelled += pd.cancelled;
      d.oldestUnackedMs = Math.max(d.oldestUnackedMs, pd.oldestUnackedMs);
      for (let off = pd.startOffset; off < pd.endOffset && pd.inFlight > 0; off++) {
        const h = p.ownerOf(off);
        if (h) perWorker.set(h, (perWorker.get(h) ?? 0) + 1);
      }
    }
    for (const w of g.workers.values()) {
      d.workers.push({ workerId: w.id, lastSeenMsAgo: now - w.lastSeen, inFlight: perWorker.get(w.handle) ?? 0, acquired: w.acquired });
    }
    return d;
  }

  /** For replay (share-state-log.ts): a drop record forgets one share-partition. */
  forgetPartition(groupId: string, topic: string, partition: number): void {
    const g = this.groupsMap.get(groupId);
    g?.partitions.delete(tpKey(topic, partition));
    g?.logEnds.delete(tpKey(topic, partition));
  }

  /** For replay (share-state-log.ts): a delete record drops what came before it. */
  forgetGroup(groupId: string): void {
    this.groupsMap.delete(groupId);
  }

  /** For replay (share-state-log.ts): the group, created with `config` or defaults. */
  restoreGroup(groupId: string, config?: ShareGroupConfig): ShareGroup {
    const g = this.groupsMap.get(groupId) ?? this.addGroup(groupId, config ?? { ...this.defaults });
    if (config) g.config = config;
    return g;
  }

  // --- internals ----------------------------------------------------------------

  private addGroup(id: string, config: ShareGroupConfig): ShareGroup {
    const g = new ShareGroup(id, config);
    this.groupsMap.set(id, g);
    return g;
  }

  private ensureGroup(groupId: string): ShareGroup {
    let g = this.groupsMap.get(groupId);
    if (!g) {
      g = this.addGroup(groupId, { ...this.defaults });
      g.configDirty = true;
    }
    return g;
  }

  private settleContext(groupId: string, workerId: string, targets: readonly SettleTarget[]): { g: ShareGroup; w: number } {
    const g = this.groupsMap.get(groupId);
    if (!g) throw new UnknownShareGroupError(groupId);
    const w = g.workers.get(workerId);
    if (!w) throw new UnknownShareWorkerError(groupId, workerId);
    w.lastSeen = this.clock.now();
    // Check every partition before changing any, so a request applies all or nothing. A
    // request of one partition (most: one acquisition's acks) makes no Set and no key.
    const seen = targets.length > 1 ? new Set<string>() : undefined;
    for (const t of targets) {
      if (seen !== undefined) {
        const key = tpKey(t.topic, t.partition);
        if (seen.has(key)) throw new InvalidShareRequestError(`${t.topic}/${t.partition} is listed twice; merge its offsets`);
        seen.add(key);
      }
      const p = g.existing(t.topic, t.partition);
      if (!p) {
        if (t.offsets.length) throw new InvalidRecordStateError(groupId, t.topic, t.partition, t.offsets[0], 'never acquired');
        continue;
      }
      p.checkHeld(w.handle, t.offsets);
    }
    return { g, w: w.handle };
  }

  private held(g: ShareGroup, t: SettleTarget): SharePartition {
    return g.existing(t.topic, t.partition)!;
  }

  private removeWorker(g: ShareGroup, id: string, handle: number, now: number): DeadLetter[] {
    g.workers.delete(id);
    const out: DeadLetter[] = [];
    for (const p of g.partitions.values()) out.push(...p.workerGone(handle, now).deadLetters);
    return out;
  }
}

/** Worker handles -> ids (handles are what the partitions store). */
function workerIds(g: ShareGroup): Map<number, string> {
  return new Map([...g.workers.values()].map((w) => [w.handle, w.id]));
}

function byPartition(dls: readonly DeadLetter[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const dl of dls) {
    const key = JSON.stringify([dl.group, dl.topic, dl.partition]);
    const offsets = out.get(key);
    if (offsets) offsets.push(dl.offset);
    else out.set(key, [dl.offset]);
  }
  return out;
}
