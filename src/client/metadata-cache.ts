/**
 * What the client knows of topics and, in a cluster, of brokers and partition leaders, from
 * Metadata answers.
 *
 * On a single broker the answer has no `brokers` and no `partitionInfo`: the cache holds
 * partition counts only, `clustered` is false and every route is the home connection, so a
 * client sends exactly what it sent before cluster mode existed (one Metadata per topic it
 * starts to use, nothing more). In a cluster the answer also names the live brokers (node id
 * and URL) and each partition's leader and leader epoch; -1 is an offline partition.
 *
 * Refreshes are coalesced: one Metadata request is in flight at a time, and it asks for every
 * topic the cache knows plus the ones asked for. A refresh asked for while one is in flight
 * joins it when it covers the topics wanted, or else joins the single refresh queued behind
 * it (which gathers the topics of everyone waiting), so a burst of NOT_LEADER_OR_FOLLOWER
 * answers after a failover costs one or two requests, not one per batch.
 */
import type { MetadataResponse, PartitionMetadata } from '../protocol/api.js';
import { BrokerError, ERRORS } from '../protocol/errors.js';

/** A partition's leader as Metadata last said (cluster mode). leader -1: offline. */
export type PartitionRoute = Pick<PartitionMetadata, 'leader' | 'leaderEpoch'>;

interface TopicEntry {
  partitions: number;
  /** Cluster mode: index = partition. */
  leaders: readonly PartitionRoute[] | undefined;
}

interface Refresh {
  topics: Set<string>;
  promise: Promise<MetadataResponse>;
}

export class MetadataCache {
  private readonly topics = new Map<string, TopicEntry>();
  /** Cluster mode: live brokers by node id (undefined: a single broker answered). */
  private brokers: Map<number, string> | undefined;
  private current: Refresh | null = null;
  private next: Refresh | null = null;

  /** `send` asks some broker for the metadata of `topics` (client/broker-pool.ts). */
  constructor(private readonly send: (topics: string[]) => Promise<MetadataResponse>) {}

  /** Whether the last answer came from a cluster (it named brokers and leaders). */
  get clustered(): boolean {
    return this.brokers !== undefined;
  }

  /** Cached partition count, or undefined (then call `partitionCount`). */
  cached(topic: string): number | undefined {
    return this.topics.get(topic)?.partitions;
  }

  /** Leader and epoch of a partition as last heard; undefined on a single broker or when not known. */
  route(topic: string, partition: number): PartitionRoute | undefined {
    return this.topics.get(topic)?.leaders?.[partition];
  }

  /** URL a live broker advertises (cluster mode), or undefined. */
  brokerUrl(nodeId: number): string | undefined {
    return this.brokers?.get(nodeId);
  }

  /** Every live broker's URL (cluster mode; empty on a single broker). */
  brokerUrls(): string[] {
    return this.brokers ? [...this.brokers.values()] : [];
  }

  /** Partition count of `topic`; rejects with UNKNOWN_TOPIC_OR_PARTITION if it does not exist. */
  async partitionCount(topic: string): Promise<number> {
    const n = this.topics.get(topic)?.partitions;
    if (n !== undefined) return n;
    const res = await this.refresh([topic]);
    const t = res.topics.find((x) => x.name === topic);
    if (!t) throw new BrokerError(ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${topic}' does not exist`, { topic });
    if (t.error && t.error.code !== 0) {
      const msg = t.error.code === ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code ? `topic '${topic}' does not exist` : t.error.message;
      throw new BrokerError(t.error.code, msg, { topic, ...t.error.data });
    }
    return t.partitions;
  }

  /**
   * Asks for fresh metadata of every known topic and `topics`, coalesced with the refresh in
   * flight (see the file comment). Resolves with the answer that covered them.
   */
  refresh(topics: readonly string[] = []): Promise<MetadataResponse> {
    const cur = this.current;
    if (!cur) return this.start(new Set(topics));
    if (topics.every((t) => cur.topics.has(t))) return cur.promise;
    if (this.next) {
      for (const t of topics) this.next.topics.add(t);
      return this.next.promise;
    }
    const set = new Set(topics);
    const queued: Refresh = {
      topics: set,
      promise: cur.promise.catch(() => undefined).then(() => {
        this.next = null;
        return this.start(set);
      }),
    };
    this.next = queued;
    return queued.promise;
  }

  private start(set: Set<string>): Promise<MetadataResponse> {
    for (const t of this.topics.keys()) set.add(t);
    const entry: Refresh = { topics: set, promise: undefined! };
    entry.promise = this.send([...set]).then(
      (res) => {
        if (this.current === entry) this.current = null;
        this.apply(res);
        return res;
      },
      (err: unknown) => {
        if (this.current === entry) this.current = null;
        throw err;
      },
    );
    this.current = entry;
    return entry.promise;
  }

  private apply(res: MetadataResponse): void {
    this.brokers = res.brokers ? new Map(res.brokers.map((b) => [b.nodeId, b.url])) : undefined;
    for (const t of res.topics) {
      if (t.error && t.error.code !== 0) this.topics.delete(t.name);
      else this.topics.set(t.name, { partitions: t.partitions, leaders: t.partitionInfo });
    }
  }

  /** Forgets `topic` (it was deleted, re-created or grew partitions); the next lookup asks again. */
  invalidate(topic: string): void {
    this.topics.delete(topic);
  }
}
