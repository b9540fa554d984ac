/**
 * Topic creation, deletion and partition growth in cluster mode, done by the controller
 * (docs/cluster.md, "Placement"), in etcd transactions fenced by the controller epoch, so a
 * deposed controller cannot create or delete anything.
 *
 * etcd caps a transaction at 128 operations (--max-txn-ops), so a topic's partitions are
 * written in chunks: the first transaction claims the name (topic record plus the first
 * chunk), later ones add the rest. Until the last chunk lands, brokers see a topic whose
 * higher partitions have no state yet and answer for them as for a partition without a
 * leader (retriable). A controller that dies between chunks leaves that gap to its successor,
 * whose first pass (`completeTopics`) places and writes the missing partitions.
 */
import { randomUUID } from 'node:crypto';
import type { Etcd3, IOperation, IRequestOp } from 'etcd3';
import { InvalidPartitionsError, TopicExistsError, UnknownTopicError } from '../storage/errors.js';
import type { ControllerElection } from './controller-election.js';
import { parseTopicRecord, type TopicRecord } from './cluster-view.js';
import type { ClusterKeys } from './keys.js';
import { revision } from './keys.js';
import { initialState } from './partition-state.js';
import { placeReplicas } from './placement.js';
import { WANTED_TXN_OPS } from './etcd-txn-limit.js';

/** Partition states per transaction: below etcd's default limit of 128 operations, with room for the topic record (fewer when etcd's limit is lower). */
const TXN_PARTITIONS = 100;

export interface CreateTopicSpec {
  name: string;
  partitions: number;
  /** Default min(3, live brokers), as Kafka's default.replication.factor with a small cluster. */
  replicationFactor?: number;
  config?: Record<string, unknown>;
}

/** Kafka's advice as a default: with three copies, an acknowledged write is on two of them. */
export function defaultMinInsyncReplicas(replicationFactor: number): number {
  return replicationFactor >= 3 ? 2 : 1;
}

export class TopicAdmin {
  /** Partition states per transaction. */
  private readonly perTxn: number;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly election: ControllerElection,
    /** The live broker ids now (the controller's directory). */
    private readonly liveBrokers: () => number[],
    /** etcd's --max-txn-ops as found at start-up (etcd-txn-limit.ts): the claiming transaction holds the topic record and a chunk. */
    maxTxnOps = WANTED_TXN_OPS,
  ) {
    this.perTxn = Math.max(1, Math.min(TXN_PARTITIONS, maxTxnOps - 1));
  }

  async createTopic(spec: CreateTopicSpec): Promise<TopicRecord> {
    const live = this.liveBrokers();
    const rf = spec.replicationFactor ?? Math.min(3, live.length);
    const replicas = placeReplicas(live, spec.partitions, rf);
    const config = { minInsyncReplicas: defaultMinInsyncReplicas(rf), ...spec.config };
    const rec: TopicRecord = { topicId: randomUUID(), partitions: spec.partitions, replicationFactor: rf, config, createdAt: Date.now() };
    const topicKey = this.keys.topic(spec.name);
    const first = replicas.slice(0, this.perTxn);
    const res = await this.election.fencedTxn(
      [this.client.put(topicKey).value(JSON.stringify(rec)), ...this.partitionPuts(spec.name, 0, first)],
      [[topicKey, 'Create', '==', 0]],
    );
    if (!res.succeeded) throw new TopicExistsError(spec.name);
    await this.writeChunks(spec.name, this.perTxn, replicas.slice(this.perTxn));
    return rec;
  }

  /**
   * Writes the state of every partition a topic record promises but etcd does not hold (a
   * controller died between chunks). The controller runs it when it is elected.
   */
  async completeTopics(): Promise<number> {
    const [topics, parts] = await Promise.all([
      this.client.getAll().prefix(this.keys.topicsPrefix).exec(),
      this.client.getAll().prefix(this.keys.partitionsPrefix).keys(),
    ]);
    const have = new Set(parts);
    let written = 0;
    for (const kv of topics.kvs) {
      const name = kv.key.toString().slice(this.keys.topicsPrefix.length);
      let rec: TopicRecord;
      try {
        rec = parseTopicRecord(kv.value.toString());
      } catch {
        continue; // not written by a broker; the view reports it
      }
      const missing: number[] = [];
      for (let p = 0; p < rec.partitions; p++) if (!have.has(this.keys.partition(name, p))) missing.push(p);
      for (const p of missing) {
        const [r] = placeReplicas(this.liveBrokers(), 1, rec.replicationFactor, { firstPartition: p });
        await this.election.fencedTxn([this.partitionPut(name, p, r!)], [[this.keys.partition(name, p), 'Create', '==', 0]]);
        written++;
      }
    }
    return written;
  }

  private partitionPut(topic: string, p: number, replicas: number[]): IRequestOp | IOperation {
    return this.client.put(this.keys.partition(topic, p)).value(JSON.stringify(initialState(replicas)));
  }

  private partitionPuts(topic: string, from: number, replicas: number[][]): (IRequestOp | IOperation)[] {
    return replicas.map((r, i) => this.partitionPut(topic, from + i, r));
  }

  private async writeChunks(topic: string, from: number, replicas: number[][]): Promise<void> {
    for (let i = 0; i < replicas.length; i += this.perTxn) {
      await this.election.fencedTxn(this.partitionPuts(topic, from + i, replicas.slice(i, i + this.perTxn)));
    }
  }

  async deleteTopic(name: string): Promise<TopicRecord> {
    const topicKey = this.keys.topic(name);
    const got = await this.client.get(topicKey).exec();
    const kv = got.kvs[0];
    if (kv === undefined) throw new UnknownTopicError(name);
    // One range delete removes every partition key, however many: it counts as one operation.
    const res = await this.election.fencedTxn(
      [this.client.delete().key(topicKey), this.client.delete().prefix(`${this.keys.partitionsPrefix}${name}/`)],
      [[topicKey, 'Mod', '==', revision(kv.mod_revision)]],
    );
    if (!res.succeeded) return this.deleteTopic(name); // changed meanwhile (partitions added): decide again
    return parseTopicRecord(kv.value.toString());
  }

  /** Grows a topic to `total` partitions, placing the new ones as if they had been there from the start. */
  async addPartitions(name: string, total: number): Promise<TopicRecord> {
    const topicKey = this.keys.topic(name);
    const got = await this.client.get(topicKey).exec();
    const kv = got.kvs[0];
    if (kv === undefined) throw new UnknownTopicError(name);
    const rec = parseTopicRecord(kv.value.toString());
    if (total <= rec.partitions) throw new InvalidPartitionsError(`topic '${name}' has ${rec.partitions} partitions; the new count must be larger, got ${total}`);
    const replicas = placeReplicas(this.liveBrokers(), total - rec.partitions, rec.replicationFactor, { firstPartition: rec.partitions });
    const next: TopicRecord = { ...rec, partitions: total };
    const res = await this.election.fencedTxn(
      [this.client.put(topicKey).value(JSON.stringify(next)), ...this.partitionPuts(name, rec.partitions, replicas.slice(0, this.perTxn))],
      [[topicKey, 'Mod', '==', revision(kv.mod_revision)]],
    );
    if (!res.succeeded) return this.addPartitions(name, total);
    await this.writeChunks(name, rec.partitions + this.perTxn, replicas.slice(this.perTxn));
    return next;
  }
}
