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
 * brokers hold. `openPlaced` opens some partitions of a topic, `removePartition` removes one.
 */
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import { StorageError } from './errors.js';
import { effectiveConfig } from './log-config.js';
import { DiskPartitionLog, type PartitionLogOptions, type StorageLogger } from './partition-log.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import type { LogConfig, TopicInfo } from './types.js';

/**
 * The options of every partition log opened here (passed on as they are: one list, so a
 * setting added to PartitionLogOptions reaches every way of opening logs; the cluster's
 * placed manager once took a copy of this list that lacked producerIdExpirationMs and
 * `now`), and the local logs' own.
 */
export interface LocalLogsOptions extends PartitionLogOptions {
  /** How often retention runs; <= 0 turns the timer off. Default 30 s. */
  retentionCheckMs?: number;
  /** Opens one partition; DiskPartitionLog.open unless a test injects failures (EMFILE at partition k). */
  openPartition?: typeof DiskPartitionLog.open;
}

const noop = () => {};

/**
 * Partitions opened, created or closed at once. One at a time, 20,000 partitions took minutes:
 * each open is a dozen small file-system calls (mkdir, readdir, the .log, its indexes, the
 * checkpoints, a directory fsync) that each wait a round trip through libuv's thread pool, and
 * the process sat idle 55 % of the time (--cpu-prof). 32 keep the pool's threads busy. Not
 * more: each open or close briefly holds a few descriptors of its own (indexes,
 * recovery-point, the producer snapshot, the clean-shutdown marker), and all 4,000 logs of a
 * broker closed at once went past a 1,024-file limit with nothing the open-file cache could
 * close, so their snapshots failed with EMFILE (test/integration/open-files.test.ts).
 */
const PARTITION_CONCURRENCY = 32;

/**
 * Runs `fn(i)` for i in [0, count), at most PARTITION_CONCURRENCY at a time. With `stopOnError`
 * no new call starts after one fails. Resolves once every started call has settled, with the
 * failures by index (lowest first).
 */
async function eachLimited(count: number, fn: (i: number) => Promise<void>, stopOnError: boolean): Promise<{ index: number; err: unknown }[]> {
  const failures: { index: number; err: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count && !(stopOnError && failures.length > 0)) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failures.push({ index: i, err });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTITION_CONCURRENCY, count) }, worker));
  return failures.sort((a, b) => a.index - b.index);
}

/** Closes `logs`, PARTITION_CONCURRENCY at a time; with `rethrow` the first failure is thrown once all are closed. */
async function closeLogs(logs: readonly (DiskPartitionLog | undefined)[], rethrow = false): Promise<void> {
  const failures = await eachLimited(logs.length, async (i) => { await logs[i]?.close(); }, false);
  if (rethrow && failures.length > 0) throw failures[0].err;
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
   * Cluster mode: opens partitions `ps` of a topic placed on this broker, recovering each
   * directory that exists (this broker held it before) or starting it empty, skipping those
   * open already. PARTITION_CONCURRENCY at a time, as a single broker's topics: one at a
   * time, a broker placed 20,000 partitions waited out each open's dozen file calls in turn.
   * Each log is in service as soon as it is open; after a failure no new open starts, and
   * the first one is thrown (naming the partition) once those running have settled.
   */
  async openPlaced(info: TopicInfo, ps: readonly number[]): Promise<void> {
    const todo = ps.filter((p) => !this.log(info.name, p));
    const config = effectiveConfig(this.defaults, info.config);
    const open = this.opts.openPartition ?? DiskPartitionLog.open;
    const failures = await eachLimited(todo.length, async (i) => {
      const p = todo[i];
      const opened = await open(partitionDir(this.dataDir, info.name, p), info.name, p, config, this.opts);
      let logs = this.logs.get(info.name);
      if (!logs) this.logs.set(info.name, (logs = []));
      logs[p] = opened;
    }, true);
    if (failures.length > 0) throw failures[0].err;
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
    this.logs.set(info.name, await this.openPartitions(info, 0, info.partitions, true));
  }

  /** Creates partitions [from, to) of a topic this broker holds; all or nothing, as create(). */
  async grow(info: TopicInfo, from: number, to: number): Promise<void> {
    const logs = this.logs.get(info.name);
    if (!logs) throw new StorageError(`no local logs of topic '${info.name}'`);
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
    const opened: DiskPartitionLog[] = new Array<DiskPartitionLog>(to - from);
    const failures = await eachLimited(to - from, async (i) => {
      // A fresh partition's directory may be left by a crash between removing the metadata and
      // the files of a deleted topic of that name: open removes it when it was there.
      opened[i] = await open(partitionDir(this.dataDir, info.name, from + i), info.name, from + i, config, this.opts, fresh);
    }, true);
    if (failures.length === 0) return opened;
    await closeLogs(opened);
    if (fresh) await this.removeDirs(info.name, from, to);
    const { index, err } = failures[0];
    throw fresh ? wrapStorage(err, `partition ${from + index} of ${to} failed`) : err;
  }

  /** Removes partition directories [from, to); a failure is logged, not thrown (the caller reports the first error). */
  private async removeDirs(name: string, from: number, to: number): Promise<void> {
    await eachLimited(to - from, async (i) => {
      const dir = partitionDir(this.dataDir, name, from + i);
      await this.fs.rm(dir).catch((err: unknown) => this.logger('storage.cleanup.failed', { dir, error: String(err) }));
    }, false);
  }

  private async removeLogs(name: string, logs: (DiskPartitionLog | undefined)[], from: number): Promise<void> {
    await closeLogs(logs);
    const failures = await eachLimited(logs.length, (i) => this.fs.rm(partitionDir(this.dataDir, name, from + i)), false);
    if (failures.length > 0) throw failures[0].err;
  }
}

/** A SluiceError of the storage layer as is; anything else (an fs error) as a StorageError saying what failed. */
export function wrapStorage(err: unknown, what: string): SluiceError {
  if (err instanceof StorageError) return new StorageError(`${what}: ${err.message}`, { cause: err.cause ?? err });
  return err instanceof SluiceError ? err : new StorageError(`${what}: ${(err as Error).message}`, { cause: err });
}
