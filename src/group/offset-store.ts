/**
 * Committed offsets, kept in memory and made durable in a state log (src/state-log/)
 * whose record format is described in offset-records.ts. One commit request = one batch,
 * so a commit of many partitions is stored all or nothing.
 *
 * Compaction: when the current generation holds more than `compactRatio` times as many
 * records as there are live keys (and at least `compactMinRecords`), the live entries are
 * written to generation g+1, followed by the snapshot marker, durably; then g is removed.
 * On start the newest generation that has its marker (or the oldest one left) wins and the
 * others are removed, so a crash at any point loses nothing and leaves no garbage behind.
 *
 * Writes (commits, tombstones, compaction) run one at a time in call order; the in-memory
 * map changes only after the append is durable, so a fetch never returns an offset that a
 * crash could take back.
 */
import type { SluiceError } from '../errors.js';
import { INTERNAL_TOPIC_PREFIX } from '../topic-name.js';
import type { RecordInput } from '../record/index.js';
import { CompactedLog, type CompactionOptions } from '../state-log/compacted-log.js';
import { CoordinatorNotAvailableError, InvalidGroupRequestError, OffsetMetadataTooLargeError } from './errors.js';
import { recordsOf } from '../state-log/replay.js';
import type { GenerationLog, GenerationDir } from '../state-log/generation-log.js';
import { decodeOffsetRecord, groupRecord, membershipRecord, offsetRecord, snapshotMarker, type CommitStamp, type StoredOffset } from './offset-records.js';
import { compareTpKeys, parseTpKey, tpKey, type Clock, type TopicPartition } from './types.js';

/** Generations of the committed-offsets log are the internal topics `__consumer_offsets-<n>`. */
export const OFFSETS_PREFIX = `${INTERNAL_TOPIC_PREFIX}consumer_offsets`;

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string;
}

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** -1 when nothing is committed. */
  offset: number;
  metadata: string;
  commitTimestamp: number;
}

export interface OffsetStoreOptions extends CompactionOptions {
  clock: Clock;
  /** Largest commit metadata string, in utf-8 bytes. Default 4096 (Kafka's offset.metadata.max.bytes). */
  maxMetadataBytes?: number;
  /** Records per batch when writing a snapshot. Default 1000. */
  snapshotBatchRecords?: number;
}

interface GroupOffsets {
  /**
   * ms since the group has had no members; null while it has some. 0 for a group that never
   * had members (only simple-consumer commits): its offsets then expire by commit time alone.
   */
  emptySince: number | null;
  /** Whether a "g" record is live in the log (counts as a live key). */
  hasRecord: boolean;
  readonly offsets: Map<string, StoredOffset>;
}

export class OffsetStore extends CompactedLog {
  private readonly groupsMap = new Map<string, GroupOffsets>();
  /** Cluster mode: each group's persisted membership, packed (the coordinator's; opaque here). */
  private readonly membersMap = new Map<string, Buffer>();
  private readonly maxMetadataBytes: number;
  private readonly snapshotBatchRecords: number;

  private constructor(dir: GenerationDir, private readonly opts: OffsetStoreOptions) {
    super(dir, () => opts.clock.now(), opts);
    this.maxMetadataBytes = opts.maxMetadataBytes ?? 4096;
    this.snapshotBatchRecords = opts.snapshotBatchRecords ?? 1000;
  }

  /** Replays the newest complete generation. Groups that had members when the broker stopped count as empty from now. */
  static async open(dir: GenerationDir, opts: OffsetStoreOptions): Promise<OffsetStore> {
    const store = new OffsetStore(dir, opts);
    await store.load((l, _last, gen) => {
      store.groupsMap.clear();
      store.membersMap.clear();
      return store.replay(l, gen);
    });
    const now = opts.clock.now();
    // A group whose membership was persisted (cluster mode) keeps its members: the coordinator restores them.
    for (const [id, g] of store.groupsMap) if (g.emptySince === null && !store.membersMap.has(id)) await store.setEmptySince(id, now);
    return store;
  }

  stats(): { generation: number; records: number; liveKeys: number; groups: number } {
    return { generation: this.generation, records: this.records, liveKeys: this.liveKeys(), groups: this.groupsMap.size };
  }

  /** Groups with committed offsets or bookkeeping. */
  groups(): string[] {
    return [...this.groupsMap.keys()].sort();
  }

  hasGroup(group: string): boolean {
    return this.groupsMap.has(group);
  }

  emptySince(group: string): number | null | undefined {
    return this.groupsMap.get(group)?.emptySince;
  }

  /** Persisted memberships (cluster mode): group -> packed state, as the coordinator wrote them. */
  memberships(): ReadonlyMap<string, Buffer> {
    return this.membersMap;
  }

  /**
   * Persists the group's membership (packed by the coordinator), or deletes it (null). One
   * record, written like a commit: resolves once durable (acks=all in cluster mode).
   */
  setMembership(group: string, state: Buffer | null): Promise<void> {
    // No short cut on membersMap for a delete: it changes only once earlier writes, maybe this group's first, are durable.
    return this.write([membershipRecord(group, state, this.opts.clock.now())], () => {
      if (state === null) this.membersMap.delete(group);
      else this.membersMap.set(group, state);
    });
  }

  /** Committed offsets of `group`: the given partitions (-1 where none), or all it has. */
  fetch(group: string, partitions?: readonly TopicPartition[]): CommittedOffset[] {
    const g = this.groupsMap.get(group);
    if (partitions) {
      return partitions.map(({ topic, partition }) => {
        const o = g?.offsets.get(tpKey(topic, partition));
        return { topic, partition, offset: o?.offset ?? -1, metadata: o?.metadata ?? '', commitTimestamp: o?.commitTimestamp ?? -1 };
      });
    }
    if (!g) return [];
    return [...g.offsets.keys()].sort(compareTpKeys).map((k) => {
      const { offset, metadata, commitTimestamp } = g.offsets.get(k)!;
      return { ...parseTpKey(k), offset, metadata, commitTimestamp };
    });
  }

  /** Who wrote the durable committed offset of this partition, when it came with a commit sequence (commit-order.ts). */
  commitStamp(group: string, topic: string, partition: number): CommitStamp | undefined {
    return this.groupsMap.get(group)?.offsets.get(tpKey(topic, partition))?.stamp;
  }

  /**
   * Stores the offsets durably, as one batch, each with `stamp` (the committing member's
   * commit sequence) when given. Membership checks and commit order are the coordinator's
   * job; this checks only the values. Resolves after the batch is fsynced.
   */
  async commit(group: string, entries: readonly OffsetCommitEntry[], stamp?: CommitStamp): Promise<void> {
    const now = this.opts.clock.now();
    const stored: [string, StoredOffset][] = [];
    const records: RecordInput[] = [];
    for (const e of entries) {
      const problem = this.checkEntry(e);
      if (problem) throw problem;
      const value: StoredOffset = { offset: e.offset, metadata: e.metadata ?? '', commitTimestamp: now, ...(stamp && { stamp }) };
      stored.push([tpKey(e.topic, e.partition), value]);
      records.push(offsetRecord(group, e.topic, e.partition, value, now));
    }
    if (records.length === 0) return;
    return this.write(records, () => {
      const g = this.groupEntry(group);
      for (const [k, v] of stored) g.offsets.set(k, v);
    });
  }

  /**
   * Why `e` cannot be committed, or undefined when it can. Partition, offset and metadata
   * types and ranges are the OffsetCommit schema's (protocol/api-table.ts), the only way a
   * commit arrives; topic names are only typed there, so an empty one fails here, alone.
   */
  checkEntry(e: OffsetCommitEntry): SluiceError | undefined {
    if (e.topic === '') return new InvalidGroupRequestError(`invalid topic name "" (partition ${e.partition})`);
    const size = Buffer.byteLength(e.metadata ?? '');
    if (size > this.maxMetadataBytes) return new OffsetMetadataTooLargeError(e.topic, e.partition, size, this.maxMetadataBytes);
    return undefined;
  }

  /** Deletes the given partitions' offsets (OffsetDelete). */
  deleteOffsets(group: string, partitions: readonly TopicPartition[]): Promise<void> {
    const g = this.groupsMap.get(group);
    const keys = partitions.map((p) => tpKey(p.topic, p.partition)).filter((k) => g?.offsets.has(k));
    return this.tombstone(group, keys, false);
  }

  /** Deletes everything stored for the group. */
  deleteGroup(group: string): Promise<void> {
    const g = this.groupsMap.get(group);
    if (!g) return Promise.resolve();
    return this.tombstone(group, [...g.offsets.keys()], true);
  }

  /** Records when the group became empty (null: it has members again), so expiry survives restarts. */
  setEmptySince(group: string, ts: number | null): Promise<void> {
    const g = this.groupsMap.get(group);
    if (g && g.hasRecord && g.emptySince === ts) return Promise.resolve();
    const now = this.opts.clock.now();
    return this.write([groupRecord(group, ts, now)], () => {
      const e = this.groupEntry(group);
      e.emptySince = ts;
      e.hasRecord = true;
    });
  }

  /**
   * Deletes offsets of empty groups once `retentionMs` passed since the later of the moment
   * the group became empty and the offset's own commit (a commit while empty refreshes that
   * partition). Groups with members (emptySince null) never lose offsets. A group left with
   * nothing is forgotten. Returns the number of offsets deleted.
   */
  async expire(now: number, retentionMs: number): Promise<number> {
    let n = 0;
    for (const [group, g] of [...this.groupsMap]) {
      if (g.emptySince === null) continue;
      const dead: string[] = [];
      for (const [k, o] of g.offsets) if (now - Math.max(g.emptySince, o.commitTimestamp) >= retentionMs) dead.push(k);
      const all = dead.length === g.offsets.size && now - g.emptySince >= retentionMs;
      if (dead.length === 0 && !all) continue;
      await this.tombstone(group, dead, all);
      n += dead.length;
    }
    return n;
  }

  // --- internals ----------------------------------------------------------------

  private groupEntry(group: string): GroupOffsets {
    let g = this.groupsMap.get(group);
    if (!g) this.groupsMap.set(group, (g = { emptySince: 0, hasRecord: false, offsets: new Map() }));
    return g;
  }

  protected liveKeys(): number {
    let n = 0;
    for (const g of this.groupsMap.values()) n += g.offsets.size + (g.hasRecord ? 1 : 0);
    return n + this.membersMap.size;
  }

  private tombstone(group: string, keys: readonly string[], wholeGroup: boolean): Promise<void> {
    const now = this.opts.clock.now();
    const records: RecordInput[] = keys.map((k) => {
      const { topic, partition } = parseTpKey(k);
      return offsetRecord(group, topic, partition, null, now);
    });
    if (wholeGroup && this.groupsMap.get(group)?.hasRecord) records.push(groupRecord(group, undefined, now));
    if (wholeGroup && this.membersMap.has(group)) records.push(membershipRecord(group, null, now));
    if (records.length === 0) {
      if (wholeGroup) this.groupsMap.delete(group);
      return Promise.resolve();
    }
    return this.write(records, () => {
      const g = this.groupsMap.get(group);
      if (!g) return;
      for (const k of keys) g.offsets.delete(k);
      if (wholeGroup || (g.offsets.size === 0 && !g.hasRecord)) this.groupsMap.delete(group);
      if (wholeGroup) this.membersMap.delete(group);
    });
  }

  private write(records: RecordInput[], apply: () => void): Promise<void> {
    return this.append(records, true, apply);
  }

  protected closedError(): Error {
    return new CoordinatorNotAvailableError('the offset store is closed');
  }

  /** Live entries in chunks of snapshotBatchRecords, for a snapshot. */
  protected *snapshotBatches(now: number): Generator<RecordInput[]> {
    let pending: RecordInput[] = [];
    for (const [group, state] of this.membersMap) pending.push(membershipRecord(group, state, now));
    for (const [group, g] of this.groupsMap) {
      if (g.hasRecord) pending.push(groupRecord(group, g.emptySince, now));
      for (const [k, o] of g.offsets) {
        const { topic, partition } = parseTpKey(k);
        pending.push(offsetRecord(group, topic, partition, o, now));
        if (pending.length >= this.snapshotBatchRecords) {
          yield pending;
          pending = [];
        }
      }
    }
    yield pending;
  }

  protected snapshotMarker(gen: number, records: number, now: number): RecordInput {
    return snapshotMarker(gen, records, now);
  }

  /**
   * Rebuilds the map from `log`; true when it holds a snapshot marker. A record that does not
   * decode, or a stored batch whose bytes changed on disk, is skipped (and reported): one bad
   * record must not keep the broker from starting.
   */
  private async replay(log: GenerationLog, gen: number): Promise<boolean> {
    let complete = false;
    let records = 0;
    for await (const batch of recordsOf(log, (b) => this.skippedBatch(gen, b))) {
      for (const r of batch) {
        records++;
        try {
          if (this.applyRecord(r.key, r.value)) complete = true;
        } catch (err) {
          await this.skipped(gen, r, err);
        }
      }
    }
    this.records = records;
    return complete;
  }

  /** Applies one replayed record; true for a snapshot marker. */
  private applyRecord(key: Buffer | null, value: Buffer | null): boolean {
    const r = decodeOffsetRecord(key, value);
    if (r.kind === 'offset') {
      const k = tpKey(r.topic, r.partition);
      if (r.value === null) {
        const g = this.groupsMap.get(r.group);
        g?.offsets.delete(k);
        if (g && g.offsets.size === 0 && !g.hasRecord) this.groupsMap.delete(r.group);
      } else {
        this.groupEntry(r.group).offsets.set(k, r.value);
      }
    } else if (r.kind === 'members') {
      if (r.state === null) this.membersMap.delete(r.group);
      else this.membersMap.set(r.group, r.state);
    } else if (r.kind === 'group') {
      if (r.emptySince === undefined) {
        this.groupsMap.delete(r.group);
      } else {
        const g = this.groupEntry(r.group);
        g.emptySince = r.emptySince;
        g.hasRecord = true;
      }
    }
    return r.kind === 'snapshot';
  }
}
