/**
 * The partition logs this broker holds: one directory per (topic, partition), named
 * `<topic>-<partition>` under the data directory, opened, created, grown and removed here.
 * It knows nothing of which topics should exist: the metadata store (metadata-store.ts) says
 * that, and log-manager.ts keeps the two in step. Retention runs over every open log on a
 * timer. Topic names are validated before they reach here (topic-name.ts), so no path is
 * built outside the data directory.
 *
 * In cluster mode a broker holds only the partitions placed on it (placed-log-manager.ts):
 * a topic's list then has holes, and `log(topic, p)` is undefined for the partitions other
 * brokers hold. `openPlaced` and `removePartition` change one partition at a time.
 */
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import { StorageError } from './errors.js';
import { effectiveConfig } from './log-config.js';
import { DiskPartitionLog, type StorageLogger } from './partition-log.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import type { OpenFileCache } from './open-file-cache.js';
import type { LogConfig, TopicInfo } from './types.js';

export interface LocalLogsOptions {
  logger?: StorageLogger;
  /** How often retention runs; <= 0 turns the timer off. Default 30 s. */
  retentionCheckMs?: number;
  /** Clock for retention and segment age; Date.now by default. */
  now?: () => number;
  /** Passed to every partition log: called after each segment fsync with its duration. */
  onFsync?: (seconds: number) => void;
  /** Where files live (and every partition's); node:fs by default. Tests pass a crash-simulating one. */
  fs?: FileSystem;
  /** Passed to every partition log: idle producer ids are dropped after this long (PartitionLogOptions). */
  producerIdExpirationMs?: number;
  /** The broker's budget of open segment files, shared by every partition (PartitionLogOptions.openFiles). */
  openFiles?: OpenFileCache;
  /** Opens one partition; DiskPartitionLog.open unless a test injects failures (EMFILE at partition k). */
  openPartition?: typeof DiskPartitionLog.open;
}

const noop = () => {};

/**
 * Logs closed at once. Closing one opens a few files briefly (its indexes, recovery-point, the
 * producer snapshot, the clean-shutdown marker): all 4,000 of a broker at once went past a
 * 1,024-file limit with nothing the open-file cache could close, and their snapshots failed
 * with EMFILE (test/integration/open-files.test.ts).
 */
const CLOSE_CONCURRENCY = 32;

/** Closes `logs`, CLOSE_CONCURRENCY at a time; with `rethrow` the first failure is thrown once all are closed. */
async function closeLogs(logs: readonly (DiskPartitionLog | undefined)[], rethrow = false): Promise<void> {
  let first: unknown = null;
  for (let i = 0; i < logs.length; i += CLOSE_CONCURRENCY) {
    await Promise.all(logs.slice(i, i + CLOSE_CONCURRENCY).map((l) => l?.close().catch((err: unknown) => { first ??= err; })));
  }
  if (rethrow && first !== null) throw first;
}

export function partitionDir(dataDir: string, topic: string, partition: number): string {
  return join(dataDir, `${topic}-${partition}`);
}

export class LocalLogs {
  /** Per topic, index = partition; a hole is a partition this broker does not hold (cluster mode). */
  private readonly logs = new Map<string, (DiskPartitionLog | undefined)[]>();
  private timer: NodeJS.Timeout | null = null;
  private readonly logger: StorageLogger;
  private readonly fs: FileSystem;

  constructor(readonly dataDir: string, private readonly defaults: Partial<LogConfig>, private readonly opts: LocalLogsOptions = {}) {
    this.logger = opts.logger ?? noop;
    this.fs = opts.fs ?? nodeFileSystem;
  }

  /** Starts the retention timer (unless retentionCheckMs <= 0). */
  startRetention(): void {
    const every = this.opts.retentionCheckMs ?? 30_000;
    if (every <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.enforceRetention().catch((err) => this.logger('storage.retention.failed', { error: String(err) }));
    }, every);
    this.timer.unref();
  }

  stopRetention(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  log(topic: string, partition: number): DiskPartitionLog | undefined {
    return this.logs.get(topic)?.[partition];
  }

  /** The partitions of `topic` open here (all of them on a single broker). */
  partitions(topic: string): number[] {
    const out: number[] = [];
    (this.logs.get(topic) ?? []).forEach((l, p) => { if (l) out.push(p); });
    return out;
  }

  /** Topics with at least one partition open here. */
  topicNames(): string[] {
    return [...this.logs.keys()];
  }

  /**
   * Cluster mode: opens partition `p` of a topic placed on this broker, recovering its
   * directory when it exists (this broker held it before) or starting it empty. A no-op when
   * it is open already. The error names the partition.
   */
  async openPlaced(info: TopicInfo, p: number): Promise<void> {
    if (this.log(info.name, p)) return;
    const [opened] = await this.openPartitions(info, p, p + 1);
    let logs = this.logs.get(info.name);
    if (!logs) this.logs.set(info.name, (logs = []));
    logs[p] = opened;
  }

  /** Cluster mode: closes partition `p` of `name` (if open) and removes its directory (the replica left this broker). */
  async removePartition(name: string, p: number): Promise<void> {
    const logs = this.logs.get(name);
    const l = logs?.[p];
    if (logs) {
      logs[p] = undefined;
      if (logs.every((x) => x === undefined)) this.logs.delete(name);
    }
    await l?.close().catch(noop);
    await this.fs.rm(partitionDir(this.dataDir, name, p));
  }

  /** Opens (and recovers) the existing partitions of a topic listed in the metadata. */
  async openExisting(info: TopicInfo): Promise<void> {
    this.logs.set(info.name, await this.openPartitions(info, 0, info.partitions));
  }

  /**
   * Creates the partitions of a new topic, removing directories left by a crash between
   * removing the metadata and the files of a deleted topic of that name first. On failure
   * nothing is left behind and the error says which partition failed and why.
   */
  async create(info: TopicInfo): Promise<void> {
    for (let p = 0; p < info.partitions; p++) await this.fs.rm(partitionDir(this.dataDir, info.name, p));
    this.logs.set(info.name, await this.openPartitions(info, 0, info.partitions, true));
  }

  /** Creates partitions [from, to) of a topic this broker holds; all or nothing, as create(). */
  async grow(info: TopicInfo, from: number, to: number): Promise<void> {
    const logs = this.logs.get(info.name);
    if (!logs) throw new StorageError(`no local logs of topic '${info.name}'`);
    for (let p = from; p < to; p++) await this.fs.rm(partitionDir(this.dataDir, info.name, p));
    const added = await this.openPartitions(info, from, to, true);
    logs.push(...added);
  }

  /** Closes and removes partitions [from, ...) of a topic (all of them by default): undoes a create or a grow. */
  async shrink(name: string, from: number): Promise<void> {
    const logs = this.logs.get(name);
    if (!logs) return;
    const removed = logs.splice(from);
    if (logs.length === 0) this.logs.delete(name);
    await this.removeLogs(name, removed, from);
  }

  /**
   * Takes a topic's logs out of service at once (log() no longer finds them) without closing
   * them; `remove()` closes and deletes them, `attach()` puts them back (a delete that failed).
   */
  detach(name: string): (DiskPartitionLog | undefined)[] {
    const logs = this.logs.get(name) ?? [];
    this.logs.delete(name);
    return logs;
  }

  attach(name: string, logs: (DiskPartitionLog | undefined)[]): void {
    this.logs.set(name, logs);
  }

  /** Closes detached logs and removes their directories. */
  remove(name: string, logs: (DiskPartitionLog | undefined)[]): Promise<void> {
    return this.removeLogs(name, logs, 0);
  }

  async enforceRetention(now?: number): Promise<number> {
    let n = 0;
    for (const logs of this.logs.values()) for (const l of logs) if (l) n += await l.enforceRetention(now);
    return n;
  }

  async close(): Promise<void> {
    this.stopRetention();
    const all = [...this.logs.values()].flat();
    await closeLogs(all, true);
  }

  /**
   * Opens partitions [from, to) of a topic. On failure the ones opened are closed, and with
   * `fresh` (a create or a growth, whose directories did not exist before) every directory of
   * the range is removed again, so a create that fails at partition k of n (EMFILE, disk
   * full) leaves nothing behind. The error names the partition and the cause.
   */
  private async openPartitions(info: TopicInfo, from: number, to: number, fresh = false): Promise<DiskPartitionLog[]> {
    const config = effectiveConfig(this.defaults, info.config);
    const open = this.opts.openPartition ?? DiskPartitionLog.open;
    const opened: DiskPartitionLog[] = [];
    try {
      for (let p = from; p < to; p++) {
        try {
          opened.push(await open(partitionDir(this.dataDir, info.name, p), info.name, p, config, this.opts));
        } catch (err) {
          throw fresh ? wrapStorage(err, `partition ${p} of ${to} failed`) : err;
        }
      }
    } catch (err) {
      await closeLogs(opened);
      if (fresh) await this.removeDirs(info.name, from, to);
      throw err;
    }
    return opened;
  }

  /** Removes partition directories [from, to); a failure is logged, not thrown (the caller reports the first error). */
  private async removeDirs(name: string, from: number, to: number): Promise<void> {
    for (let p = from; p < to; p++) {
      const dir = partitionDir(this.dataDir, name, p);
      await this.fs.rm(dir).catch((err: unknown) => this.logger('storage.cleanup.failed', { dir, error: String(err) }));
    }
  }

  private async removeLogs(name: string, logs: (DiskPartitionLog | undefined)[], from: number): Promise<void> {
    await closeLogs(logs);
    for (let p = from; p < from + logs.length; p++) await this.fs.rm(partitionDir(this.dataDir, name, p));
  }
}

/** A SluiceError of the storage layer as is; anything else (an fs error) as a StorageError saying what failed. */
export function wrapStorage(err: unknown, what: string): SluiceError {
  if (err instanceof StorageError) return new StorageError(`${what}: ${err.message}`, { cause: err.cause ?? err });
  return err instanceof SluiceError ? err : new StorageError(`${what}: ${(err as Error).message}`, { cause: err });
}
