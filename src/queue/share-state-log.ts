/**
 * Makes share group state survive a restart. The coordinator changes in memory; the broker
 * calls `persist()` after each batch of worker calls and answers the workers once it
 * resolves. Record format: share-state-records.ts.
 *
 * Storage and compaction are the state-log module's (src/state-log/: generations of
 * append-only logs; `logManagerGenerationDir(manager, SHARE_STATE_PREFIX)` on disk,
 * `MemoryGenerationDir` in tests), shared with the offsets store: when
 * the current generation holds more than `compactRatio` times as many records as live keys
 * (and at least `compactMinRecords`), every group's config and every partition's window is
 * written to generation g+1 with a marker, durably, and g is removed. On open, the newest
 * generation with a marker (or the oldest left) is replayed and the others removed. Replay
 * time is therefore bounded by windows (<= maxWindow runs each), not by history.
 *
 * What a restart keeps: acked and archived records stay settled; acquired records come
 * back available with their delivery count (their locks and backoff times are gone);
 * records held for their dead-letter copy stay held (ShareCoordinator.deadLettersToResume:
 * the broker resumes the copy); counters (acked, dead-lettered) carry on. What it loses: changes whose persist() had not
 * resolved — at-least-once: such a record is delivered again, never dropped.
 */
import { SluiceError } from '../errors.js';
import type { DecodedRecord, RecordInput } from '../record/index.js';
import { INTERNAL_TOPIC_PREFIX } from '../topic-name.js';
import { CompactedLog, type CompactionOptions } from '../state-log/compacted-log.js';
import { recordsOf } from '../state-log/replay.js';
import type { GenerationLog, GenerationDir } from '../state-log/generation-log.js';
import { resolveShareConfig } from './share-config.js';
import type { ShareCoordinator } from './share-coordinator.js';
import { configRecord, decodeShareStateRecord, deleteRecord, dropRecord, partitionRecord, snapshotMarker, updateRecord, type ShareStateRecord } from './share-state-records.js';
import { tpKey, type Clock, type ShareGroupConfig, systemClock } from './types.js';

/** Generations of the share state log are the internal topics `__share_state-<n>`. */
export const SHARE_STATE_PREFIX = `${INTERNAL_TOPIC_PREFIX}share_state`;

export interface ShareStateLogOptions extends CompactionOptions {
  clock?: Clock;
}

export class ShareStateLog extends CompactedLog {
  /** Records replayed by open() (for tests: replay stays bounded). */
  replayed = 0;

  private constructor(dir: GenerationDir, private readonly coord: ShareCoordinator, opts: ShareStateLogOptions) {
    const clock = opts.clock ?? systemClock;
    super(dir, () => clock.now(), opts);
  }

  /** Replays the newest complete generation into `coord` (which should be empty). */
  static async open(dir: GenerationDir, coord: ShareCoordinator, opts: ShareStateLogOptions = {}): Promise<ShareStateLog> {
    const s = new ShareStateLog(dir, coord, opts);
    await s.load((l, last, gen) => s.replay(l, last, gen));
    coord.drainChanges(); // replay is already on disk
    return s;
  }

  /**
   * Writes the coordinator's changes since the last call as one batch. `durable` (default
   * true) resolves after fsync: use it before answering ack/reject/release; acquisitions may
   * use false (a crash then only under-counts a delivery).
   */
  persist(durable = true): Promise<void> {
    return this.write(durable).done;
  }

  /** As persist, with the write apart from its end: `written` once in the log, `done` once also fsynced when `durable`. */
  write(durable: boolean): { written: Promise<void>; done: Promise<void> } {
    const { deleted, dropped, updates, configs } = this.coord.drainChanges();
    const now = this.now();
    const records: RecordInput[] = [];
    // Deletes first: a group deleted and started again in one drain keeps only the new state.
    for (const g of deleted) records.push(deleteRecord(g, now));
    // Drops before updates: a partition dropped and started again in one drain keeps the new window.
    for (const d of dropped) records.push(dropRecord(d.group, d.topic, d.partition, now));
    for (const c of configs) records.push(configRecord(c.group, c.config, now));
    for (const u of updates) records.push((u.replace ? partitionRecord : updateRecord)(u.group, u.topic, u.partition, u.startOffset, u.runs, u, now, u.deadLettering));
    // Nothing new: what this caller changed went out with an earlier write, which is then
    // waited for (with an fsync, when this caller needs one).
    return this.appendSplit(records, durable);
  }

  stats(): { generation: number; records: number; liveKeys: number } {
    return { generation: this.generation, records: this.records, liveKeys: this.liveKeys() };
  }

  // --- internals ----------------------------------------------------------------

  protected closedError(): Error {
    return new SluiceError('COORDINATOR_NOT_AVAILABLE', 'the share state log is closed');
  }

  protected liveKeys(): number {
    let n = 0;
    for (const id of this.coord.groups()) n += 1 + this.coord.group(id)!.partitions.size;
    return n;
  }

  /** Every group's config and partition state, in batches of about 4096 runs, for a snapshot. */
  protected *snapshotBatches(now: number): Generator<RecordInput[]> {
    let pending: RecordInput[] = [];
    let pendingRuns = 0;
    for (const id of this.coord.groups()) {
      // The batches are written one by one, with awaits between them: a group deleted
      // meanwhile is skipped (its delete record follows this snapshot's marker).
      const g = this.coord.group(id);
      if (!g) continue;
      pending.push(configRecord(id, g.config, now));
      for (const p of g.partitions.values()) {
        const runs = p.snapshotRuns();
        pending.push(partitionRecord(id, p.topic, p.partition, p.startOffset, runs, p, now, p.heldDeadLetters()));
        pendingRuns += runs.length + 1;
        if (pendingRuns >= 4096) {
          yield pending;
          pending = [];
          pendingRuns = 0;
        }
      }
    }
    yield pending;
  }

  protected snapshotMarker(gen: number, records: number, now: number): RecordInput {
    return snapshotMarker(gen, records, now);
  }

  /**
   * Applies `log` to the coordinator; true when it holds a snapshot marker. A record that
   * does not decode, or that the coordinator refuses, or a stored batch whose bytes changed
   * on disk, is skipped (and reported): one bad record must not keep the broker from
   * starting. A group config with a value this version refuses keeps its other settings and
   * takes the default for that one (also reported).
   */
  private async replay(log: GenerationLog, last: boolean, gen: number): Promise<boolean> {
    // Decode everything first so an incomplete generation does not leave state behind.
    const recs: { r: DecodedRecord; d: ShareStateRecord }[] = [];
    const bad: { r: DecodedRecord; err: unknown }[] = [];
    let complete = false;
    let total = 0;
    for await (const batch of recordsOf(log, (b) => this.skippedBatch(gen, b))) {
      for (const r of batch) {
        total++;
        try {
          const d = decodeShareStateRecord(r.key, r.value);
          if (d.kind === 'snapshot') complete = true;
          recs.push({ r, d });
        } catch (err) {
          bad.push({ r, err });
        }
      }
    }
    for (const { r, err } of bad) await this.skipped(gen, r, err);
    if (!complete && !last) return false;
    for (const { r, d } of recs) {
      try {
        if (d.kind === 'delete') {
          this.coord.forgetGroup(d.group);
        } else if (d.kind === 'drop') {
          this.coord.forgetPartition(d.group, d.topic, d.partition);
        } else if (d.kind === 'config') {
          const { config, refused } = this.replayedConfig(d.config);
          this.coord.restoreGroup(d.group, config);
          if (refused) await this.skipped(gen, r, refused);
        } else if (d.kind === 'partition' || d.kind === 'update') {
          const g = this.coord.restoreGroup(d.group);
          if (d.kind === 'partition') g.partitions.delete(tpKey(d.topic, d.partition)); // a snapshot replaces
          const p = g.restoredPartition(d.topic, d.partition, d.start);
          p.restore(d.start, d.runs, d.deadLettering);
          p.acked = d.counters.acked;
          p.deadLettered = d.counters.deadLettered;
          p.redeliveries = d.counters.redeliveries;
          p.cancelled = d.counters.cancelled;
        }
      } catch (err) {
        await this.skipped(gen, r, err);
      }
    }
    this.records = total;
    this.replayed = total;
    return complete;
  }

  /**
   * A replayed config resolved against the defaults. A value this version refuses (an
   * internal dead-letter topic an older broker accepted) takes its default, the other
   * settings are kept; `refused` says which one, for the report.
   */
  private replayedConfig(patch: Partial<ShareGroupConfig>): { config: ShareGroupConfig; refused?: Error } {
    const rest: Partial<ShareGroupConfig> = { ...patch };
    let refused: Error | undefined;
    for (;;) {
      try {
        return { config: resolveShareConfig(this.coord.defaults, rest), ...(refused && { refused }) };
      } catch (err) {
        const field = (err as { field?: unknown }).field;
        refused ??= err as Error;
        // Each pass drops one refused field; anything else, or a field already gone: defaults.
        if (typeof field !== 'string' || !(field in rest)) return { config: { ...this.coord.defaults }, refused };
        delete (rest as Record<string, unknown>)[field];
      }
    }
  }
}
