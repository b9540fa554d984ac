/**
 * The storage `MetadataStore` (src/storage/metadata-store.ts) of cluster mode: topics are the
 * ones in etcd, as this broker's `ClusterView` sees them, and a partition is placed here when
 * this broker's node id is among its replicas (src/storage/placed-log-manager.ts acts on that).
 *
 * Reads answer from the view, events come from the view's watch (so every broker sees the same
 * changes in the same order), and changes go to the controller through `TopicChanges` (the
 * broker wires the controller's TopicAdmin or a forward to the controller,
 * src/broker/controller-route.ts). A change resolves only once this broker's view shows it, so
 * a Metadata request answered here right after sees the change.
 *
 * Internal topics (`__` prefix) are not here: each broker keeps its own in the file store.
 */
import { SluiceError } from '../errors.js';
import { LOG_CONFIG_KEYS } from '../storage/log-config.js';
import { TopicEvents } from '../storage/topic-events.js';
import type { PlacedMetadataStore } from '../storage/placed-log-manager.js';
import type { CreateTopicOptions, LogConfig, TopicInfo } from '../storage/types.js';
import { isLocalInternalTopicName } from '../topic-name.js';
import type { ClusterView, TopicRecord } from './cluster-view.js';
import type { CreateTopicSpec } from './topic-admin.js';

/** Topic changes as the controller makes them; the broker routes them to it. */
export interface TopicChanges {
  createTopic(spec: CreateTopicSpec): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  addPartitions(name: string, totalPartitions: number): Promise<void>;
}

export interface EtcdMetadataStoreOptions {
  /** How long a change that etcd accepted may take to reach this broker's view (default 30 s). */
  viewWaitMs?: number;
}

/** The view did not show an accepted change in time (etcd unreachable from here, or very slow). */
export class ViewLagError extends SluiceError {
  constructor(what: string, ms: number) {
    super('REQUEST_TIMED_OUT', `${what} was accepted, but this broker's view of etcd did not show it within ${ms} ms; retry`);
  }
}

export class EtcdMetadataStore implements PlacedMetadataStore {
  readonly events = new TopicEvents();
  /** The records events were last emitted for, to tell a new topic, a growth and a re-creation apart. */
  private readonly known = new Map<string, TopicRecord>();
  private readonly placementListeners = new Set<(topic: string) => void>();
  private readonly viewWaitMs: number;
  private readonly onTopic = (name: string, rec: TopicRecord | undefined): void => { this.topicChanged(name, rec); };
  private readonly onPartition = (topic: string): void => {
    if (isLocalInternalTopicName(topic)) return;
    for (const fn of [...this.placementListeners]) fn(topic);
  };

  constructor(
    private readonly view: ClusterView,
    private readonly nodeId: number,
    private readonly changes: TopicChanges,
    opts: EtcdMetadataStoreOptions = {},
  ) {
    this.viewWaitMs = opts.viewWaitMs ?? 30_000;
    for (const [name, rec] of view.topics()) if (!isLocalInternalTopicName(name)) this.known.set(name, rec);
    view.on('topic', this.onTopic);
    view.on('partition', this.onPartition);
  }

  /** Stops following the view (the view itself belongs to the cluster node). */
  close(): void {
    this.view.off('topic', this.onTopic);
    this.view.off('partition', this.onPartition);
  }

  topic(name: string): TopicInfo | undefined {
    const rec = isLocalInternalTopicName(name) ? undefined : this.view.topic(name);
    return rec === undefined ? undefined : toTopicInfo(name, rec);
  }

  topics(): TopicInfo[] {
    const out: TopicInfo[] = [];
    for (const [name, rec] of this.view.topics()) if (!isLocalInternalTopicName(name)) out.push(toTopicInfo(name, rec));
    return out;
  }

  /** The topic's record as etcd holds it (replication factor, topic id, full config). */
  record(name: string): TopicRecord | undefined {
    return this.view.topic(name);
  }

  topicId(topic: string): string | undefined {
    return this.view.topic(topic)?.topicId;
  }

  localPartitions(topic: string): number[] {
    const rec = this.view.topic(topic);
    if (rec === undefined) return [];
    const out: number[] = [];
    for (let p = 0; p < rec.partitions; p++) if (this.view.partition(topic, p)?.state.replicas.includes(this.nodeId)) out.push(p);
    return out;
  }

  onPlacementChange(fn: (topic: string) => void): () => void {
    this.placementListeners.add(fn);
    return () => { this.placementListeners.delete(fn); };
  }

  async createTopic(info: TopicInfo, opts: CreateTopicOptions = {}): Promise<void> {
    const spec: CreateTopicSpec = { name: info.name, partitions: info.partitions, config: { ...info.config } };
    if (opts.replicationFactor !== undefined) spec.replicationFactor = opts.replicationFactor;
    await this.changes.createTopic(spec);
    await this.untilView(`creating topic '${info.name}'`, () => this.view.topic(info.name) !== undefined);
  }

  async deleteTopic(name: string): Promise<TopicInfo> {
    const before = this.view.topic(name);
    await this.changes.deleteTopic(name);
    await this.untilView(`deleting topic '${name}'`, () => this.view.topic(name)?.topicId !== before?.topicId || this.view.topic(name) === undefined);
    return before ? toTopicInfo(name, before) : { name, partitions: 0, config: {}, createdAt: 0 };
  }

  async addPartitions(name: string, totalPartitions: number): Promise<TopicInfo> {
    await this.changes.addPartitions(name, totalPartitions);
    await this.untilView(`adding partitions to '${name}'`, () => (this.view.topic(name)?.partitions ?? 0) >= totalPartitions);
    return this.topic(name)!;
  }

  /** Resolves once `done()` holds, re-checked on every topic event of the view; ViewLagError after viewWaitMs. */
  private untilView(what: string, done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => { cleanup(); reject(new ViewLagError(what, this.viewWaitMs)); }, this.viewWaitMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.view.off('topic', check);
      };
      this.view.on('topic', check);
    });
  }

  private topicChanged(name: string, rec: TopicRecord | undefined): void {
    if (isLocalInternalTopicName(name)) return;
    const old = this.known.get(name);
    if (rec === undefined) {
      if (old === undefined) return;
      this.known.delete(name);
      this.events.emit('topicDeleted', { topic: name, partitions: old.partitions });
      return;
    }
    this.known.set(name, rec);
    if (old !== undefined && old.topicId !== rec.topicId) {
      // Deleted and re-created while the watch was cut (a resync shows only the result).
      this.events.emit('topicDeleted', { topic: name, partitions: old.partitions });
    }
    if (old === undefined || old.topicId !== rec.topicId) {
      this.events.emit('topicCreated', { topic: name, partitions: rec.partitions, config: logConfigOf(rec.config) });
    } else if (rec.partitions > old.partitions) {
      this.events.emit('partitionsAdded', { topic: name, from: old.partitions, to: rec.partitions });
    }
  }
}

/** The storage layer's TopicInfo of an etcd topic record. */
export function toTopicInfo(name: string, rec: TopicRecord): TopicInfo {
  // The controller stamps the record at creation; 0 says "unknown" for records written before
  // it did (nothing reads it for ordering).
  return { name, partitions: rec.partitions, config: logConfigOf(rec.config), createdAt: rec.createdAt ?? 0 };
}

/** The log config overrides in a topic record's config: known keys with integer values; anything else is not ours and is left out. */
function logConfigOf(config: Record<string, unknown>): Partial<LogConfig> {
  const out: Partial<LogConfig> = {};
  for (const key of LOG_CONFIG_KEYS) {
    const v = config[key];
    if (typeof v === 'number' && Number.isSafeInteger(v)) out[key] = v;
  }
  return out;
}
