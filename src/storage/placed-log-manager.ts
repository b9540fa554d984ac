/**
 * The broker's topics in cluster mode (docs/cluster.md): topic metadata lives in etcd and is
 * shared by every broker, and this broker holds a partition's log iff it is one of that
 * partition's replicas. Two sources make up the one LogManager the handlers see:
 *
 *   - internal topics (`__` prefix: committed offsets, share state) stay local to each broker,
 *     in the file-backed manager (log-manager.ts, `topics.json`), exactly as on a single broker;
 *   - every other topic comes from a `PlacedMetadataStore` (src/cluster/etcd-metadata-store.ts),
 *     which also says which partitions are placed here.
 *
 * The local logs follow the placement: at open, the partitions placed here are opened (or
 * created empty), and the directories of topics that no longer exist, of a deleted and
 * re-created topic (another topic id, KIP-516), or of partitions placed elsewhere are removed.
 * Afterwards every metadata event and placement change is applied the same way, one at a time,
 * and the event is passed on only once the local logs match it (the contract of
 * topic-events.ts: a listener reading `log()` sees the new state).
 *
 * Which topic id the local directories belong to is kept in `cluster-topics.json` (written
 * atomically before a new topic's first log is created), so a broker that was down while a
 * topic was deleted and re-created drops the old data instead of serving it as the new topic.
 * A directory of a topic listed in `topics.json` (a data directory that ran as a single broker)
 * is never removed: its topic is not served in cluster mode and a warning says so.
 */
import { join } from 'node:path';
import { InvalidPartitionsError, StorageError, UnknownTopicError } from './errors.js';
import { validateLogConfig } from './log-config.js';
import { validateTopicName } from './topic-name.js';
import { isLocalInternalTopicName } from '../topic-name.js';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import { checkPartitions, validateNewTopic } from './log-manager.js';
import { LocalLogs, type LocalLogsOptions } from './local-logs.js';
import type { StorageLogger } from './partition-log.js';
import type { MetadataStore } from './metadata-store.js';
import { TopicEvents, type TopicEventMap, type TopicEventName } from './topic-events.js';
import type { CreateTopicOptions, LogConfig, LogManager, PartitionLog, TopicInfo } from './types.js';

export const CLUSTER_TOPICS_FILE = 'cluster-topics.json';

/** Which partitions of the store's topics this broker holds, and which incarnation of a topic. */
export interface LocalPlacement {
  /** Partitions of `topic` placed on this broker (ascending); empty for an unknown topic. */
  localPartitions(topic: string): readonly number[];
  /** The id of the topic's current incarnation (a re-created topic gets a new one); undefined when unknown. */
  topicId(topic: string): string | undefined;
  /** Calls `fn` with the topic whenever a partition's placement may have changed; returns the unsubscribe. */
  onPlacementChange(fn: (topic: string) => void): () => void;
}

export type PlacedMetadataStore = MetadataStore & LocalPlacement;

const PARTITION_DIR = /^(.+)-(\d+)$/;
const noop = () => {};

export class PlacedLogManager implements LogManager {
  readonly events = new TopicEvents();
  private chain: Promise<void> = Promise.resolve();
  private topicIds: Record<string, string> = {};
  private readonly unsubscribe: (() => void)[] = [];
  private closed = false;
  private readonly logger: StorageLogger;
  private readonly placementApplied = new Set<(topic: string) => void>();

  private constructor(
    readonly dataDir: string,
    /** The file-backed manager; only its internal topics are served. */
    private readonly internal: LogManager,
    private readonly meta: PlacedMetadataStore,
    private readonly local: LocalLogs,
    private readonly fs: FileSystem,
    logger: StorageLogger | undefined,
  ) {
    this.logger = logger ?? noop;
  }

  /**
   * Reconciles the local logs with the placement and follows it from then on. `internal` is
   * the already opened file-backed manager of the same data directory; `defaults` are the
   * broker-wide log settings.
   */
  static async open(
    internal: LogManager, meta: PlacedMetadataStore,
    opts: LocalLogsOptions & { defaults?: Partial<LogConfig> } = {},
  ): Promise<PlacedLogManager> {
    const { defaults, ...localOpts } = opts;
    const fs = opts.fs ?? nodeFileSystem;
    const local = new LocalLogs(internal.dataDir, validateLogConfig(defaults ?? {}), { ...localOpts, fs });
    const mgr = new PlacedLogManager(internal.dataDir, internal, meta, local, fs, opts.logger);
    await mgr.load();
    return mgr;
  }

  private async load(): Promise<void> {
    const text = await readOptionalText(join(this.dataDir, CLUSTER_TOPICS_FILE), this.fs);
    if (text !== null) {
      try {
        this.topicIds = JSON.parse(text) as Record<string, string>;
      } catch (err) {
        throw new StorageError(`${CLUSTER_TOPICS_FILE} in ${this.dataDir} is unreadable: ${(err as Error).message}`, { cause: err });
      }
    }
    // Internal topics' events as they are (the file-backed manager emits them once its logs match).
    for (const name of ['topicCreated', 'topicDeleted', 'partitionsAdded'] as const) {
      this.unsubscribe.push(this.internal.events.on(name, (e) => { this.events.emit(name, e as never); }));
    }
    this.forward('topicCreated');
    this.forward('topicDeleted');
    this.forward('partitionsAdded');
    this.unsubscribe.push(this.meta.onPlacementChange((topic) => {
      this.apply(topic, () => { for (const fn of [...this.placementApplied]) fn(topic); });
    }));
    // On the chain too: a placement change told meanwhile (a broker restarting while leaders
    // move) is applied after this, not beside it; two reconciliations at once opened one
    // partition twice, and the second open failed on the clean-shutdown marker the first had
    // removed (chaos seed 56: "start failed", ENOENT).
    const first = this.chain.then(async () => {
      await this.removeStrays();
      for (const info of this.meta.topics()) await this.reconcile(info.name);
    });
    this.chain = first.catch(noop);
    await first;
    this.local.startRetention();
  }

  /** Passes a store event on once the local logs match it. */
  private forward<E extends TopicEventName>(name: E): void {
    this.unsubscribe.push(this.meta.events.on(name, (e: TopicEventMap[E]) => {
      if (isLocalInternalTopicName(e.topic)) return;
      this.apply(e.topic, () => { this.events.emit(name, e); });
    }));
  }

  /** Queues a reconciliation of `topic` (and then `after`) behind the ones already queued. */
  private apply(topic: string, after?: () => void): void {
    this.chain = this.chain
      .then(() => (this.closed ? undefined : this.reconcile(topic)))
      .catch((err: unknown) => { this.logger('storage.placement.failed', { topic, error: String(err) }); })
      .then(() => { after?.(); });
  }

  /** Makes the open logs of `topic` exactly the partitions placed here of its current incarnation. */
  private async reconcile(topic: string): Promise<void> {
    const info = this.meta.topic(topic);
    const id = info ? this.meta.topicId(topic) : undefined;
    const want = new Set(info ? this.meta.localPartitions(topic).filter((p) => p < info.partitions) : []);
    const knownId = this.topicIds[topic];
    const replaced = knownId !== undefined && knownId !== id;
    for (const p of this.local.partitions(topic)) {
      if (replaced || !want.has(p)) {
        await this.local.removePartition(topic, p);
        this.logger('storage.placement.removed', { topic, partition: p, reason: !info ? 'topic deleted' : replaced ? 'topic re-created' : 'placed elsewhere' });
      }
    }
    if (id !== knownId) await this.setTopicId(topic, want.size > 0 ? id : undefined);
    if (!info) return;
    await this.local.openPlaced(info, [...want]);
  }

  /** At open: removes directories of topics the store no longer has, of another incarnation, or of partitions not placed here. */
  private async removeStrays(): Promise<void> {
    const singleBroker = new Set(this.internal.topics().map((t) => t.name).filter((n) => !isLocalInternalTopicName(n)));
    if (singleBroker.size > 0) this.logger('storage.placement.ignored', { topics: [...singleBroker], reason: 'listed in topics.json (a single-broker data directory): not served in cluster mode' });
    for (const entry of await this.fs.readdir(this.dataDir)) {
      const m = PARTITION_DIR.exec(entry);
      if (!m) continue;
      const [, topic, pText] = m as unknown as [string, string, string];
      if (isLocalInternalTopicName(topic) || singleBroker.has(topic)) continue;
      try {
        validateTopicName(topic);
      } catch {
        continue; // not a partition directory of ours
      }
      const p = Number(pText);
      const info = this.meta.topic(topic);
      const known = this.topicIds[topic];
      const sameIncarnation = known === undefined || known === this.meta.topicId(topic);
      if (info && sameIncarnation && p < info.partitions && this.meta.localPartitions(topic).includes(p)) continue;
      await this.fs.rm(join(this.dataDir, entry));
      this.logger('storage.placement.removed', { topic, partition: p, reason: !info ? 'topic deleted' : !sameIncarnation ? 'topic re-created' : 'placed elsewhere' });
    }
    for (const topic of Object.keys(this.topicIds)) if (!this.meta.topic(topic)) await this.setTopicId(topic, undefined);
  }

  private async setTopicId(topic: string, id: string | undefined): Promise<void> {
    if (this.topicIds[topic] === id) return;
    const next = { ...this.topicIds };
    if (id === undefined) delete next[topic];
    else next[topic] = id;
    await writeFileAtomic(join(this.dataDir, CLUSTER_TOPICS_FILE), JSON.stringify(next, null, 2) + '\n', this.fs);
    this.topicIds = next;
  }

  /**
   * Calls `fn` with the topic each time a placement change (a replica added here or moved
   * away by a reassignment) has been applied to the local logs; returns the unsubscribe. The
   * replica manager needs it: a partition's role waits for its log to exist.
   */
  onPlacementApplied(fn: (topic: string) => void): () => void {
    this.placementApplied.add(fn);
    return () => { this.placementApplied.delete(fn); };
  }

  /** Resolves once every change queued so far is applied to the local logs (and its event passed on). */
  private settled(): Promise<void> {
    return this.chain;
  }

  createTopic(name: string, partitions: number, config?: Partial<LogConfig>, opts?: CreateTopicOptions): Promise<TopicInfo> {
    if (isLocalInternalTopicName(name)) return this.internal.createTopic(name, partitions, config);
    let overrides: Partial<LogConfig>;
    try {
      overrides = validateNewTopic(name, partitions, config);
    } catch (err) {
      return Promise.reject(err);
    }
    return (async () => {
      const info: TopicInfo = { name, partitions, config: overrides, createdAt: Date.now() };
      await this.meta.createTopic(info, opts ?? {});
      await this.settled();
      return this.meta.topic(name) ?? info;
    })();
  }

  async deleteTopic(name: string): Promise<void> {
    if (isLocalInternalTopicName(name)) return this.internal.deleteTopic(name);
    await this.meta.deleteTopic(name);
    await this.settled();
  }

  async addPartitions(name: string, totalPartitions: number): Promise<TopicInfo> {
    if (isLocalInternalTopicName(name)) return this.internal.addPartitions(name, totalPartitions);
    checkPartitions(totalPartitions);
    const info = this.meta.topic(name);
    if (!info) throw new UnknownTopicError(name);
    if (totalPartitions <= info.partitions) {
      throw new InvalidPartitionsError(`topic '${name}' has ${info.partitions} partitions; the new count must be larger, got ${totalPartitions}`);
    }
    const next = await this.meta.addPartitions(name, totalPartitions);
    await this.settled();
    return next;
  }

  topic(name: string): TopicInfo | undefined {
    return isLocalInternalTopicName(name) ? this.internal.topic(name) : this.meta.topic(name);
  }

  topics(): TopicInfo[] {
    return [...this.internal.topics().filter((t) => isLocalInternalTopicName(t.name)), ...this.meta.topics()];
  }

  log(topic: string, partition: number): PartitionLog | undefined {
    return isLocalInternalTopicName(topic) ? this.internal.log(topic, partition) : this.local.log(topic, partition);
  }

  async enforceRetention(now?: number): Promise<number> {
    return (await this.internal.enforceRetention(now)) + (await this.local.enforceRetention(now));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribe.splice(0)) u();
    this.local.stopRetention();
    await this.chain;
    await this.local.close();
    await this.internal.close();
  }
}

