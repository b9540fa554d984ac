/**
 * A broker's view of the cluster's topics and partition states, kept current from etcd: one
 * read of `topics/` and `partitions/`, then one watch on the cluster's root from the revision
 * after that read, so no change falls between them. The watch is the only path metadata takes
 * into a broker (docs/cluster.md), so a broker that restarts and one that was always up
 * converge on the same state.
 *
 * A watch that etcd cancels (its start revision was compacted away while the client was
 * disconnected) is replaced by a fresh read and watch; the difference between the old view
 * and the new read is emitted as ordinary events, so a subscriber never has to tell a
 * resync from a change.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { tpKey } from '../protocol/topic-partition.js';
import type { ClusterKeys } from './keys.js';
import { revision } from './keys.js';
import { decodeStoredState, type StoredPartitionState } from './partition-state-store.js';
import { decodeBrokerEpochs, type BrokerEpochs } from './broker-epochs.js';

export interface TopicRecord {
  /** Random, tells a re-created topic from the deleted one of the same name (as Kafka's KIP-516). */
  readonly topicId: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config: Record<string, unknown>;
  /** When the controller created it (ms since the epoch); absent in records written before it was kept. */
  readonly createdAt?: number;
}

type ViewEvents = {
  topic: [name: string, record: TopicRecord | undefined];
  partition: [topic: string, partition: number, state: StoredPartitionState | undefined];
  /**
   * The broker epochs the controller has handled (`broker-epochs`, broker-epochs.ts) changed:
   * undefined while no controller ever wrote them. Emitted in revision order with the partition
   * events, so every partition state the controller wrote before it is applied already.
   */
  brokerEpochs: [epochs: BrokerEpochs | undefined];
  /** A value that no broker wrote (not JSON of the expected shape): skipped, reported. */
  invalid: [key: string, err: Error];
  error: [Error];
};

export class ClusterView extends EventEmitter<ViewEvents> {
  private readonly topicMap = new Map<string, TopicRecord>();
  private readonly partitionMap = new Map<string, StoredPartitionState>();
  private handledEpochs: BrokerEpochs | undefined;
  private watcher: Watcher | undefined;
  private seenRevision = 0;
  private closed = false;

  /**
   * The etcd revision up to which this view has applied every change under the cluster's root
   * (its read, then each watch event; a delete's revision counts too).
   */
  get revision(): number {
    return this.seenRevision;
  }

  private constructor(private readonly client: Etcd3, private readonly keys: ClusterKeys) {
    super();
  }

  static async open(client: Etcd3, keys: ClusterKeys): Promise<ClusterView> {
    const view = new ClusterView(client, keys);
    await view.sync();
    return view;
  }

  topic(name: string): TopicRecord | undefined {
    return this.topicMap.get(name);
  }

  topics(): ReadonlyMap<string, TopicRecord> {
    return this.topicMap;
  }

  partition(topic: string, partition: number): StoredPartitionState | undefined {
    return this.partitionMap.get(tpKey(topic, partition));
  }

  partitions(): IterableIterator<StoredPartitionState> {
    return this.partitionMap.values();
  }

  /**
   * The broker epochs the controller has handled, as of this view's revision; undefined while
   * the key is absent (no controller of this version has run a pass yet). A value no broker
   * wrote reads as empty: no broker counts as handled until the controller writes it again.
   */
  get brokerEpochs(): BrokerEpochs | undefined {
    return this.handledEpochs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel();
  }

  /** Reads everything, emits the difference to the current view, and watches from the next revision. */
  private async sync(): Promise<void> {
    // One range read of the cluster's root: topics and partitions at one revision.
    const res = await this.client.getAll().prefix(this.keys.root).exec();
    const seenTopics = new Set<string>();
    const seenParts = new Set<string>();
    let epochs: IKeyValue | undefined;
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      if (key.startsWith(this.keys.topicsPrefix)) seenTopics.add(this.applyTopic(kv, false) ?? '');
      else if (key.startsWith(this.keys.partitionsPrefix)) seenParts.add(this.applyPartition(kv, false) ?? '');
      else if (key === this.keys.brokerEpochs) epochs = kv;
    }
    for (const name of [...this.topicMap.keys()]) if (!seenTopics.has(name)) this.dropTopic(name);
    for (const [k, s] of [...this.partitionMap]) if (!seenParts.has(k)) this.dropPartition(s.topic, s.partition);
    // After the partitions: a listener told the epochs finds the states written before them.
    this.applyBrokerEpochs(epochs);
    const startRev = revision(res.header.revision) + 1;
    this.seenRevision = Math.max(this.seenRevision, startRev - 1);
    this.watcher = await this.client.watch().prefix(this.keys.root).startRevision(String(startRev)).create();
    this.watcher.on('put', (kv) => { this.route(kv, false); });
    this.watcher.on('delete', (kv) => { this.route(kv, true); });
    this.watcher.on('error', () => {
      // Cancelled by etcd (compaction): start over from a fresh read.
      if (this.closed) return;
      this.watcher = undefined;
      this.sync().catch((e: unknown) => { this.emit('error', e as Error); });
    });
  }

  private route(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString();
    // Every key under the root counts (brokers too): the watch delivers in revision order.
    this.seenRevision = Math.max(this.seenRevision, revision(kv.mod_revision));
    if (key.startsWith(this.keys.topicsPrefix)) this.applyTopic(kv, deleted);
    else if (key.startsWith(this.keys.partitionsPrefix)) this.applyPartition(kv, deleted);
    else if (key === this.keys.brokerEpochs) this.applyBrokerEpochs(deleted ? undefined : kv);
  }

  /** `kv` undefined: the key is absent. */
  private applyBrokerEpochs(kv: IKeyValue | undefined): void {
    let next: BrokerEpochs | undefined;
    if (kv !== undefined) {
      try {
        next = decodeBrokerEpochs(kv.value.toString());
      } catch (err) {
        this.emit('invalid', kv.key.toString(), err as Error);
        next = new Map();
      }
    }
    if (sameEpochs(this.handledEpochs, next)) return;
    this.handledEpochs = next;
    this.emit('brokerEpochs', next);
  }

  private applyTopic(kv: IKeyValue, deleted: boolean): string | undefined {
    const name = kv.key.toString().slice(this.keys.topicsPrefix.length);
    if (deleted) {
      this.dropTopic(name);
      return name;
    }
    let rec: TopicRecord;
    try {
      rec = parseTopicRecord(kv.value.toString());
    } catch (err) {
      this.emit('invalid', kv.key.toString(), err as Error);
      return undefined;
    }
    const old = this.topicMap.get(name);
    this.topicMap.set(name, rec);
    if (old === undefined || JSON.stringify(old) !== JSON.stringify(rec)) this.emit('topic', name, rec);
    return name;
  }

  private dropTopic(name: string): void {
    if (this.topicMap.delete(name)) this.emit('topic', name, undefined);
  }

  private applyPartition(kv: IKeyValue, deleted: boolean): string | undefined {
    let s: StoredPartitionState | undefined;
    try {
      s = deleted ? undefined : decodeStoredState(this.keys, kv);
    } catch (err) {
      this.emit('invalid', kv.key.toString(), err as Error);
      return undefined;
    }
    if (deleted) {
      const rest = kv.key.toString().slice(this.keys.partitionsPrefix.length);
      const slash = rest.lastIndexOf('/');
      this.dropPartition(rest.slice(0, slash), Number(rest.slice(slash + 1)));
      return undefined;
    }
    if (s === undefined) return undefined;
    const k = tpKey(s.topic, s.partition);
    const old = this.partitionMap.get(k);
    this.partitionMap.set(k, s);
    if (old === undefined || old.modRevision !== s.modRevision) this.emit('partition', s.topic, s.partition, s);
    return k;
  }

  private dropPartition(topic: string, partition: number): void {
    if (this.partitionMap.delete(tpKey(topic, partition))) this.emit('partition', topic, partition, undefined);
  }
}

function sameEpochs(a: BrokerEpochs | undefined, b: BrokerEpochs | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const [id, e] of a) if (b.get(id) !== e) return false;
  return true;
}

export function parseTopicRecord(json: string): TopicRecord {
  const v = JSON.parse(json) as Record<string, unknown>;
  if (typeof v.topicId !== 'string' || v.topicId.length === 0) throw new Error('topic record: topicId must be a non-empty string');
  if (!Number.isInteger(v.partitions) || (v.partitions as number) < 1) throw new Error('topic record: partitions must be a positive integer');
  if (!Number.isInteger(v.replicationFactor) || (v.replicationFactor as number) < 1) throw new Error('topic record: replicationFactor must be a positive integer');
  const config = v.config ?? {};
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error('topic record: config must be an object');
  if (v.createdAt !== undefined && !(Number.isSafeInteger(v.createdAt) && (v.createdAt as number) >= 0)) throw new Error('topic record: createdAt must be a non-negative integer (ms since the epoch)');
  return {
    topicId: v.topicId, partitions: v.partitions as number, replicationFactor: v.replicationFactor as number, config: config as Record<string, unknown>,
    ...(v.createdAt !== undefined ? { createdAt: v.createdAt as number } : {}),
  };
}
