/**
 * Owns the data directory: `topics.json` (the topic list, replaced atomically) and one
 * partition directory per (topic, partition), named `<topic>-<partition>`. Topic names are
 * validated before any path is built (topic-name.ts), so nothing is created outside the
 * data directory. Admin operations (create, delete, add partitions) run one at a time.
 */
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import { InvalidPartitionsError, StorageError, TopicExistsError, UnknownTopicError } from './errors.js';
import { effectiveConfig, validateLogConfig } from './log-config.js';
import { DiskPartitionLog, type StorageLogger } from './partition-log.js';
import { validateTopicName } from './topic-name.js';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import type { LogConfig, LogManager, PartitionLog, TopicInfo } from './types.js';

export const TOPICS_FILE = 'topics.json';
/** Upper bound per topic: each partition keeps three files open. */
export const MAX_PARTITIONS = 10_000;

export interface LogManagerOptions {
  logger?: StorageLogger;
  /** How often retention runs; <= 0 turns the timer off. Default 30 s. */
  retentionCheckMs?: number;
  /** Clock for retention and segment age; Date.now by default. */
  now?: () => number;
  /** Passed to every partition log: called after each segment fsync with its duration. */
  onFsync?: (seconds: number) => void;
  /** Where files live (and every partition's); node:fs by default. Tests pass a crash-simulating one. */
  fs?: FileSystem;
  /** Opens one partition; DiskPartitionLog.open unless a test injects failures (EMFILE at partition k). */
  openPartition?: typeof DiskPartitionLog.open;
}

interface TopicsFile {
  version: 1;
  topics: TopicInfo[];
}

const noop = () => {};

export function partitionDir(dataDir: string, topic: string, partition: number): string {
  return join(dataDir, `${topic}-${partition}`);
}

class DiskLogManager implements LogManager {
  private readonly infos = new Map<string, TopicInfo>();
  private readonly logs = new Map<string, DiskPartitionLog[]>();
  private adminChain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly logger: StorageLogger;
  private readonly fs: FileSystem;

  constructor(readonly dataDir: string, private readonly defaults: Partial<LogConfig>, private readonly opts: LogManagerOptions) {
    this.logger = opts.logger ?? noop;
    this.fs = opts.fs ?? nodeFileSystem;
  }

  async load(): Promise<void> {
    await this.fs.mkdir(this.dataDir);
    const text = await readOptionalText(join(this.dataDir, TOPICS_FILE), this.fs);
    if (text !== null) {
      let parsed: TopicsFile;
      try {
        parsed = JSON.parse(text) as TopicsFile;
        if (!Array.isArray(parsed.topics)) throw new Error('no topics array');
      } catch (err) {
        throw new StorageError(`${TOPICS_FILE} in ${this.dataDir} is unreadable: ${(err as Error).message}`, { cause: err });
      }
      for (const t of parsed.topics) {
        validateTopicName(t.name);
        const info: TopicInfo = { name: t.name, partitions: t.partitions, config: validateLogConfig(t.config), createdAt: t.createdAt };
        this.infos.set(info.name, info);
        this.logs.set(info.name, await this.openPartitions(info, 0, info.partitions));
      }
    }
    const every = this.opts.retentionCheckMs ?? 30_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.enforceRetention().catch((err) => this.logger('storage.retention.failed', { error: String(err) }));
      }, every);
      this.timer.unref();
    }
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
          throw fresh ? wrap(err, `partition ${p} of ${to} failed`) : err;
        }
      }
    } catch (err) {
      await Promise.all(opened.map((l) => l.close().catch(noop)));
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

  /** Runs admin operations one after another so two creates of one name cannot interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.adminChain.then(() => {
      if (this.closed) throw new StorageError('log manager is closed');
      return fn();
    });
    this.adminChain = run.catch(noop);
    return run;
  }

  private async persist(): Promise<void> {
    const file: TopicsFile = { version: 1, topics: [...this.infos.values()] };
    await writeFileAtomic(join(this.dataDir, TOPICS_FILE), JSON.stringify(file, null, 2) + '\n', this.fs);
  }

  createTopic(name: string, partitions: number, config?: Partial<LogConfig>): Promise<TopicInfo> {
    try {
      validateTopicName(name);
      checkPartitions(partitions);
      config = validateLogConfig(config);
    } catch (err) {
      return Promise.reject(err);
    }
    const overrides = config;
    return this.serial(async () => {
      if (this.infos.has(name)) throw new TopicExistsError(name);
      const info: TopicInfo = { name, partitions, config: overrides, createdAt: Date.now() };
      // Directories left by a crash between removing metadata and files of a deleted topic.
      for (let p = 0; p < partitions; p++) await this.fs.rm(partitionDir(this.dataDir, name, p));
      let logs: DiskPartitionLog[];
      try {
        logs = await this.openPartitions(info, 0, partitions, true);
      } catch (err) {
        throw wrap(err, `cannot create topic '${name}'`);
      }
      this.infos.set(name, info);
      this.logs.set(name, logs);
      try {
        await this.persist();
      } catch (err) {
        this.infos.delete(name);
        this.logs.delete(name);
        await this.removeLogs(name, logs);
        throw wrap(err, `cannot create topic '${name}'`);
      }
      return { ...info };
    });
  }

  deleteTopic(name: string): Promise<void> {
    return this.serial(async () => {
      const logs = this.logs.get(name);
      if (!logs || !this.infos.has(name)) throw new UnknownTopicError(name);
      this.infos.delete(name);
      this.logs.delete(name);
      await this.persist();
      await this.removeLogs(name, logs);
    });
  }

  private async removeLogs(name: string, logs: DiskPartitionLog[], from = 0): Promise<void> {
    await Promise.all(logs.map((l) => l.close().catch(noop)));
    for (let p = from; p < from + logs.length; p++) await this.fs.rm(partitionDir(this.dataDir, name, p));
  }

  addPartitions(name: string, totalPartitions: number): Promise<TopicInfo> {
    return this.serial(async () => {
      const info = this.infos.get(name);
      const logs = this.logs.get(name);
      if (!info || !logs) throw new UnknownTopicError(name);
      checkPartitions(totalPartitions);
      if (totalPartitions <= info.partitions) {
        throw new InvalidPartitionsError(`topic '${name}' has ${info.partitions} partitions; the new count must be larger, got ${totalPartitions}`);
      }
      for (let p = info.partitions; p < totalPartitions; p++) await this.fs.rm(partitionDir(this.dataDir, name, p));
      let added: DiskPartitionLog[];
      try {
        added = await this.openPartitions(info, info.partitions, totalPartitions, true);
      } catch (err) {
        throw wrap(err, `cannot add partitions to '${name}'`);
      }
      const before = info.partitions;
      logs.push(...added);
      info.partitions = totalPartitions;
      try {
        await this.persist();
      } catch (err) {
        info.partitions = before;
        logs.length = before;
        await this.removeLogs(name, added, before);
        throw wrap(err, `cannot add partitions to '${name}'`);
      }
      return { ...info };
    });
  }

  topic(name: string): TopicInfo | undefined {
    const info = this.infos.get(name);
    return info ? { ...info } : undefined;
  }

  topics(): TopicInfo[] {
    return [...this.infos.values()].map((i) => ({ ...i }));
  }

  log(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(topic)?.[partition];
  }

  async enforceRetention(now?: number): Promise<number> {
    let n = 0;
    for (const logs of this.logs.values()) for (const l of logs) n += await l.enforceRetention(now);
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.adminChain;
    this.closed = true;
    const all = [...this.logs.values()].flat();
    await Promise.all(all.map((l) => l.close()));
  }
}

function checkPartitions(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PARTITIONS) {
    throw new InvalidPartitionsError(`partition count must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(n)}`);
  }
}

/** A SluiceError of the storage layer as is; anything else (an fs error) as a StorageError saying what failed. */
function wrap(err: unknown, what: string): SluiceError {
  if (err instanceof StorageError) return new StorageError(`${what}: ${err.message}`, { cause: err.cause ?? err });
  return err instanceof SluiceError ? err : new StorageError(`${what}: ${(err as Error).message}`, { cause: err });
}

/**
 * Opens (creating if needed) the data directory and every topic listed in topics.json,
 * recovering partitions that were not closed cleanly. `defaults` are the broker-wide log
 * settings; each topic's overrides apply on top.
 */
export async function openLogManager(
  dataDir: string, defaults: Partial<LogConfig> = {}, opts: LogManagerOptions = {},
): Promise<LogManager> {
  const mgr = new DiskLogManager(dataDir, validateLogConfig(defaults), opts);
  await mgr.load();
  return mgr;
}
