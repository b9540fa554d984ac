/**
 * The metadata store of a single broker: `topics.json` in the data directory, replaced whole
 * and atomically (atomic-file.ts, through the FileSystem seam so the power-loss tests cover
 * it) on every change. The layout is the one data directories have always had:
 *
 *   { "version": 1, "topics": [ { "name", "partitions", "config", "createdAt" }, ... ] }
 *
 * Names and configs are validated again on load (topic-name.ts, log-config.ts), so a hand
 * edited file cannot make the broker build a path outside the data directory.
 */
import { join } from 'node:path';
import { InvalidPartitionsError, StorageError, TopicExistsError, UnknownTopicError } from './errors.js';
import { validateLogConfig } from './log-config.js';
import { validateTopicName } from './topic-name.js';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import { TopicEvents } from './topic-events.js';
import type { MetadataStore } from './metadata-store.js';
import type { TopicInfo } from './types.js';

export const TOPICS_FILE = 'topics.json';

interface TopicsFile {
  version: 1;
  topics: TopicInfo[];
}

export class FileMetadataStore implements MetadataStore {
  readonly events = new TopicEvents();
  private readonly infos = new Map<string, TopicInfo>();

  private constructor(private readonly dataDir: string, private readonly fs: FileSystem) {}

  /** Reads `topics.json` of `dataDir` (none: no topics). StorageError when it does not parse. */
  static async open(dataDir: string, fs: FileSystem = nodeFileSystem): Promise<FileMetadataStore> {
    const store = new FileMetadataStore(dataDir, fs);
    const text = await readOptionalText(join(dataDir, TOPICS_FILE), fs);
    if (text === null) return store;
    let parsed: TopicsFile;
    try {
      parsed = JSON.parse(text) as TopicsFile;
      if (!Array.isArray(parsed.topics)) throw new Error('no topics array');
    } catch (err) {
      throw new StorageError(`${TOPICS_FILE} in ${dataDir} is unreadable: ${(err as Error).message}`, { cause: err });
    }
    for (const t of parsed.topics) {
      validateTopicName(t.name);
      store.infos.set(t.name, { name: t.name, partitions: t.partitions, config: validateLogConfig(t.config), createdAt: t.createdAt });
    }
    return store;
  }

  topic(name: string): TopicInfo | undefined {
    const info = this.infos.get(name);
    return info ? { ...info } : undefined;
  }

  topics(): TopicInfo[] {
    return [...this.infos.values()].map((i) => ({ ...i }));
  }

  async createTopic(info: TopicInfo): Promise<void> {
    if (this.infos.has(info.name)) throw new TopicExistsError(info.name);
    this.infos.set(info.name, { ...info });
    try {
      await this.persist();
    } catch (err) {
      this.infos.delete(info.name);
      throw err;
    }
    this.events.emit('topicCreated', { topic: info.name, partitions: info.partitions, config: { ...info.config } });
  }

  async deleteTopic(name: string): Promise<TopicInfo> {
    const info = this.infos.get(name);
    if (!info) throw new UnknownTopicError(name);
    this.infos.delete(name);
    try {
      await this.persist();
    } catch (err) {
      this.infos.set(name, info);
      throw err;
    }
    this.events.emit('topicDeleted', { topic: name, partitions: info.partitions });
    return { ...info };
  }

  async addPartitions(name: string, totalPartitions: number): Promise<TopicInfo> {
    const info = this.infos.get(name);
    if (!info) throw new UnknownTopicError(name);
    const from = info.partitions;
    if (totalPartitions <= from) {
      throw new InvalidPartitionsError(`topic '${name}' has ${from} partitions; the new count must be larger, got ${totalPartitions}`);
    }
    info.partitions = totalPartitions;
    try {
      await this.persist();
    } catch (err) {
      info.partitions = from;
      throw err;
    }
    this.events.emit('partitionsAdded', { topic: name, from, to: totalPartitions });
    return { ...info };
  }

  private async persist(): Promise<void> {
    const file: TopicsFile = { version: 1, topics: [...this.infos.values()] };
    await writeFileAtomic(join(this.dataDir, TOPICS_FILE), JSON.stringify(file, null, 2) + '\n', this.fs);
  }
}
