/**
 * Keeps the data directory's `replication-offset-checkpoint` (storage/high-watermark-checkpoint.ts)
 * as Kafka's ReplicaManager keeps its file of the same name: read once at start-up, each entry
 * handed to the replica manager the first time its partition gets a role
 * (`ReplicaManagerOptions.checkpointedHighWatermark`), and written every `intervalMs` while the
 * broker runs (only when a high watermark moved) and once more at a clean shutdown, from what
 * the replica manager knows then (`ReplicaManager.highWatermarks`).
 *
 * A partition read from the file and not asked for yet (no role since start-up: offline, or its
 * state not applied yet) keeps its entry in the next writes, so a broker restarted twice in a row
 * does not forget it. A SIGKILL loses at most one interval of progress: the file then holds
 * older high watermarks, each still a lower bound of what is committed.
 */
import type { FileSystem } from '../storage/file-system.js';
import { readHighWatermarks, writeHighWatermarks, type HighWatermarkEntry } from '../storage/high-watermark-checkpoint.js';
import { tpKey } from '../protocol/topic-partition.js';
import { SILENT_REPLICATION_LOGGER, type ReplicationLogger } from './logger.js';

/** Kafka's replica.high.watermark.checkpoint.interval.ms default. */
export const HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS = 5000;

export class HighWatermarkCheckpointer {
  private readonly unasked: Map<string, HighWatermarkEntry>;
  private timer: NodeJS.Timeout | undefined;
  private written = '';
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly dataDir: string,
    private readonly fs: FileSystem,
    entries: readonly HighWatermarkEntry[],
    private readonly logger: ReplicationLogger,
  ) {
    this.unasked = new Map(entries.map((e) => [tpKey(e.topic, e.partition), e]));
  }

  /** Reads the file of `dataDir`; one that does not parse is reported and counts as empty (it only speeds up a restart). */
  static async open(dataDir: string, fs: FileSystem, logger: ReplicationLogger = SILENT_REPLICATION_LOGGER): Promise<HighWatermarkCheckpointer> {
    let entries: HighWatermarkEntry[] = [];
    try {
      entries = await readHighWatermarks(dataDir, fs);
    } catch (err) {
      logger.warn('replication.high-watermark-checkpoint.ignored', { dataDir, error: (err as Error).message });
    }
    return new HighWatermarkCheckpointer(dataDir, fs, entries, logger);
  }

  /** The checkpointed high watermark of a partition, once: later calls (a later role) get undefined. */
  take(topic: string, partition: number): number | undefined {
    const k = tpKey(topic, partition);
    const e = this.unasked.get(k);
    this.unasked.delete(k);
    return e?.highWatermark;
  }

  /** Writes every `intervalMs` what `current` returns (the replica manager's high watermarks). */
  start(current: () => HighWatermarkEntry[], intervalMs = HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS): void {
    this.current = current;
    this.timer = setInterval(() => { void this.checkpoint(); }, intervalMs);
    this.timer.unref();
  }

  /** Writes the file now if anything changed since the last write; writes never overlap. */
  checkpoint(): Promise<void> {
    const next = this.writing.then(async () => {
      const entries = [...this.current(), ...this.unasked.values()].sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition);
      const key = JSON.stringify(entries);
      if (key === this.written) return;
      try {
        await writeHighWatermarks(this.dataDir, entries, this.fs);
        this.written = key;
      } catch (err) {
        // The next interval tries again; a restart without it starts lower, never wrong.
        this.logger.warn('replication.high-watermark-checkpoint.write-failed', { dataDir: this.dataDir, error: (err as Error).message });
      }
    });
    this.writing = next;
    return next;
  }

  /** Stops the timer and writes once more (a clean shutdown: the replica manager has stopped applying states). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.checkpoint();
  }

  private current: () => HighWatermarkEntry[] = () => [];
}
