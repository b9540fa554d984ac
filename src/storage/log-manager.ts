/**
 * The broker's topics: the metadata store (which topics exist, metadata-store.ts, here the
 * file-backed one) and the local partition logs it lists (local-logs.ts), changed together.
 * Admin operations (create, delete, add partitions) run one at a time, in an order that keeps
 * the two consistent when either step fails, and makes every event (topic-events.ts) see the
 * finished state:
 *
 *   create / add partitions: open the new local logs, then record the metadata (durable, then
 *     the event); a failed metadata write removes the new logs again.
 *   delete: take the local logs out of service, record the metadata (durable, then the
 *     event: log() already finds nothing), then close and remove the directories; a failed
 *     metadata write puts the logs back.
 *
 * In cluster mode the metadata will change elsewhere (etcd, docs/cluster.md) and the local
 * logs will follow it as one more subscriber of the metadata events; here the broker is the
 * only writer, so it applies both sides itself and a failure is answered to the caller.
 */
import { InvalidPartitionsError, StorageError, TopicExistsError, UnknownTopicError } from './errors.js';
import { validateLogConfig } from './log-config.js';
import { validateTopicName } from './topic-name.js';
import { nodeFileSystem } from './file-system.js';
import { FileMetadataStore } from './file-metadata-store.js';
import { LocalLogs, wrapStorage, type LocalLogsOptions } from './local-logs.js';
import type { MetadataStore } from './metadata-store.js';
import type { TopicEvents } from './topic-events.js';
import type { CreateTopicOptions, LogConfig, LogManager, PartitionLog, TopicInfo } from './types.js';

export { TOPICS_FILE } from './file-metadata-store.js';
export { partitionDir } from './local-logs.js';
/** Upper bound per topic (a broker holds more across topics: segment files stay within maxOpenSegmentFiles, file-budget.ts). */
export const MAX_PARTITIONS = 10_000;

export type LogManagerOptions = LocalLogsOptions;

const noop = () => {};

class DiskLogManager implements LogManager {
  private adminChain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(readonly dataDir: string, private readonly meta: MetadataStore, private readonly local: LocalLogs) {}

  get events(): TopicEvents {
    return this.meta.events;
  }

  async load(): Promise<void> {
    for (const info of this.meta.topics()) await this.local.openExisting(info);
    this.local.startRetention();
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

  createTopic(name: string, partitions: number, config?: Partial<LogConfig>, _opts?: CreateTopicOptions): Promise<TopicInfo> {
    let overrides: Partial<LogConfig>;
    try {
      overrides = validateNewTopic(name, partitions, config);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serial(async () => {
      if (this.meta.topic(name)) throw new TopicExistsError(name);
      const info: TopicInfo = { name, partitions, config: overrides, createdAt: Date.now() };
      try {
        await this.local.create(info);
      } catch (err) {
        throw wrapStorage(err, `cannot create topic '${name}'`);
      }
      try {
        await this.meta.createTopic(info);
      } catch (err) {
        await this.local.shrink(name, 0);
        throw wrapStorage(err, `cannot create topic '${name}'`);
      }
      return { ...info };
    });
  }

  deleteTopic(name: string): Promise<void> {
    return this.serial(async () => {
      if (!this.meta.topic(name)) throw new UnknownTopicError(name);
      const logs = this.local.detach(name);
      try {
        await this.meta.deleteTopic(name);
      } catch (err) {
        this.local.attach(name, logs);
        throw err;
      }
      await this.local.remove(name, logs);
    });
  }

  addPartitions(name: string, totalPartitions: number): Promise<TopicInfo> {
    return this.serial(async () => {
      const info = this.meta.topic(name);
      if (!info) throw new UnknownTopicError(name);
      checkPartitions(totalPartitions);
      if (totalPartitions <= info.partitions) {
        throw new InvalidPartitionsError(`topic '${name}' has ${info.partitions} partitions; the new count must be larger, got ${totalPartitions}`);
      }
      try {
        await this.local.grow(info, info.partitions, totalPartitions);
      } catch (err) {
        throw wrapStorage(err, `cannot add partitions to '${name}'`);
      }
      try {
        return await this.meta.addPartitions(name, totalPartitions);
      } catch (err) {
        await this.local.shrink(name, info.partitions);
        throw wrapStorage(err, `cannot add partitions to '${name}'`);
      }
    });
  }

  topic(name: string): TopicInfo | undefined {
    return this.meta.topic(name);
  }

  topics(): TopicInfo[] {
    return this.meta.topics();
  }

  log(topic: string, partition: number): PartitionLog | undefined {
    return this.local.log(topic, partition);
  }

  enforceRetention(now?: number): Promise<number> {
    return this.local.enforceRetention(now);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.local.stopRetention();
    await this.adminChain;
    this.closed = true;
    await this.local.close();
  }
}

/**
 * The checks of a topic about to be created, wherever its metadata lives (this manager or the
 * cluster's placed one): its name, its partition count and its config overrides, which it
 * returns validated. Throws the coded error of the first that is wrong.
 */
export function validateNewTopic(name: string, partitions: number, config: Partial<LogConfig> | undefined): Partial<LogConfig> {
  validateTopicName(name);
  checkPartitions(partitions);
  return validateLogConfig(config);
}

/** InvalidPartitionsError unless `n` is a partition count a topic may have. */
export function checkPartitions(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PARTITIONS) {
    throw new InvalidPartitionsError(`partition count must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(n)}`);
  }
}

/**
 * Opens (creating if needed) the data directory and every topic listed in topics.json,
 * recovering partitions that were not closed cleanly. `defaults` are the broker-wide log
 * settings; each topic's overrides apply on top.
 */
export async function openLogManager(
  dataDir: string, defaults: Partial<LogConfig> = {}, opts: LogManagerOptions = {},
): Promise<LogManager> {
  const validDefaults = validateLogConfig(defaults);
  const fs = opts.fs ?? nodeFileSystem;
  await fs.mkdir(dataDir);
  const meta = await FileMetadataStore.open(dataDir, fs);
  const mgr = new DiskLogManager(dataDir, meta, new LocalLogs(dataDir, validDefaults, opts));
  await mgr.load();
  return mgr;
}
