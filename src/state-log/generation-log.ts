/**
 * What a state log (compacted-log.ts: the committed-offsets store, the share state) needs
 * from storage: a few append-only logs ("generations") it can create, list and drop. A
 * generation is a PartitionLog (the structural subset below), so the disk implementation is
 * the storage layer's own log; `MemoryGenerationDir` (memory-generation-dir.ts) is the same
 * contract in memory, for tests and for a broker without a data directory.
 *
 * Why generations instead of deleting a log prefix: PartitionLog has no "delete records
 * before offset". A snapshot is written to generation g+1, and g is dropped once the
 * snapshot is durable, so restart time is bounded by live entries, not by history.
 */
import { encodeBatch, type RecordInput } from '../record/index.js';
import type { LogManager } from '../storage/types.js';

/**
 * The log config of every topic a state log lives on, single-node generations and the
 * replicated coordinator topics alike: retention off. Their records are live state (the
 * latest snapshot and what followed it), which only the state log's own compaction may
 * remove; time or size retention would delete a quiet group's offsets or acked jobs.
 */
export const STATE_LOG_TOPIC_CONFIG = Object.freeze({ retentionMs: -1, retentionBytes: -1 });

/** The subset of storage's PartitionLog a state log uses. */
export interface GenerationLog {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  /** `inPlace`: storage's AppendOptions.inPlace (a disk generation writes it on the calling thread; others ignore it). */
  append(batches: Buffer, opts?: { durable?: boolean; inPlace?: boolean }): Promise<{ lastOffset: number }>;
  read(offset: number, maxBytes: number): Promise<{ bytes: Buffer }>;
  /**
   * fsyncs every append resolved so far (group commit: PartitionLog.flush). With it a state
   * log writes non-durably and waits for the fsync outside its write queue, so a write that
   * need not be durable is not queued behind another's fsync; without it (memory, a
   * replicated partition, where an append is durable when it resolves) appends carry `durable`.
   */
  flush?(): Promise<void>;
}

export interface GenerationDir {
  /** Generations that exist, in any order. */
  generations(): Promise<number[]>;
  /** Opens generation `gen`, creating it empty when missing. */
  open(gen: number): Promise<GenerationLog>;
  /** Deletes generation `gen` and its data; a no-op when missing. */
  remove(gen: number): Promise<void>;
  /**
   * Present on a dir that keeps one generation for life (a replicated coordinator partition,
   * docs/cluster.md "Coordinators"): compaction then writes its snapshot into the same
   * generation and calls this with the snapshot's first offset, which becomes the log start
   * (Kafka's DeleteRecords), instead of swapping generations. Replay starts at the log start,
   * which is then always the start of a complete snapshot (or of a log never compacted).
   */
  advanceLogStart?(gen: number, offset: number): Promise<void>;
}

/**
 * Opens the newest generation that `replay` calls complete (a snapshot that finished, or a
 * log never compacted), falling back to the oldest one left; removes every other
 * generation, and creates generation 0 when there is none. `replay` is told whether the
 * generation it gets is the last candidate, so it can accept a partial one.
 */
export async function openNewestGeneration(
  dir: GenerationDir, replay: (log: GenerationLog, last: boolean, gen: number) => Promise<boolean>,
): Promise<{ gen: number; log: GenerationLog }> {
  const gens = (await dir.generations()).sort((a, b) => b - a);
  let chosen: { gen: number; log: GenerationLog } | undefined;
  for (let i = 0; i < gens.length && !chosen; i++) {
    const log = await dir.open(gens[i]);
    const last = i === gens.length - 1;
    if ((await replay(log, last, gens[i])) || last) chosen = { gen: gens[i], log };
  }
  chosen ??= { gen: 0, log: await dir.open(0) };
  for (const g of gens) if (g !== chosen.gen) await dir.remove(g);
  return chosen;
}

/**
 * An empty generation `gen`, for a snapshot (writeSnapshot): a leftover `gen` from an attempt
 * that failed earlier is removed first. Until a snapshot's marker is in it, replay passes
 * over it (openNewestGeneration), so it may be made while the current generation is written.
 */
export async function freshGeneration(dir: GenerationDir, gen: number): Promise<GenerationLog> {
  await dir.remove(gen);
  return dir.open(gen);
}

/**
 * Writes a snapshot into `log` (a freshGeneration): each chunk of `batches` as one batch,
 * then `marker(n)` (n = records before it), whose presence is what makes a generation
 * complete on replay. Only the marker is durable: its fsync covers the batches before it in
 * the same file, so one fsync makes the snapshot durable, not one per batch. Returns how
 * many records the log holds, marker included.
 */
export async function writeSnapshot(log: GenerationLog, batches: Iterable<RecordInput[]>, marker: (records: number) => RecordInput, now: number): Promise<number> {
  let records = 0;
  for (const batch of batches) {
    if (batch.length === 0) continue;
    await log.append(encodeBatch(batch, { now }), { durable: false });
    records += batch.length;
  }
  await log.append(encodeBatch([marker(records)], { now }), { durable: true });
  return records + 1;
}

/**
 * Generations as single-partition internal topics `<prefix>-<gen>` of a LogManager, kept
 * forever (no time or size retention: the store's compaction bounds them instead).
 */
export function logManagerGenerationDir(manager: LogManager, prefix: string): GenerationDir {
  const name = (gen: number) => `${prefix}-${gen}`;
  const pattern = new RegExp(`^${prefix.replace(/[.]/g, '\\.')}-(\\d+)$`);
  return {
    async generations() {
      const out: number[] = [];
      for (const t of manager.topics()) {
        const m = pattern.exec(t.name);
        if (m) out.push(Number(m[1]));
      }
      return out;
    },
    async open(gen) {
      const topic = name(gen);
      if (!manager.topic(topic)) await manager.createTopic(topic, 1, STATE_LOG_TOPIC_CONFIG);
      const log = manager.log(topic, 0);
      if (!log) throw new Error(`internal topic ${topic} has no partition 0`);
      return log;
    },
    async remove(gen) {
      if (manager.topic(name(gen))) await manager.deleteTopic(name(gen));
    },
  };
}
