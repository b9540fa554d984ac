/**
 * Partition counts per topic, fetched with a Metadata request and cached. Concurrent
 * lookups of one topic share one request. `invalidate` is called on
 * UNKNOWN_TOPIC_OR_PARTITION (a topic was deleted, re-created or grew partitions).
 */
import { Api, type MetadataResponse } from '../protocol/api.js';
import { BrokerError, ERRORS } from '../protocol/errors.js';
import type { Connection } from './connection.js';

export class MetadataCache {
  private readonly partitions = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<number>>();

  constructor(private readonly conn: Connection) {}

  /** Cached partition count, or undefined (then call `partitionCount`). */
  cached(topic: string): number | undefined {
    return this.partitions.get(topic);
  }

  /** Partition count of `topic`; rejects with UNKNOWN_TOPIC_OR_PARTITION if it does not exist. */
  partitionCount(topic: string): Promise<number> {
    const n = this.partitions.get(topic);
    if (n !== undefined) return Promise.resolve(n);
    let p = this.inFlight.get(topic);
    if (!p) {
      p = this.fetch(topic).finally(() => this.inFlight.delete(topic));
      this.inFlight.set(topic, p);
    }
    return p;
  }

  private async fetch(topic: string): Promise<number> {
    const res = await this.conn.request(Api.Metadata, { topics: [topic] });
    const t = res.topics.find((x) => x.name === topic);
    if (!t) throw new BrokerError(ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${topic}' does not exist`, { topic });
    if (t.error && t.error.code !== 0) {
      const msg = t.error.code === ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code ? `topic '${topic}' does not exist` : t.error.message;
      throw new BrokerError(t.error.code, msg, { topic, ...t.error.data });
    }
    this.partitions.set(topic, t.partitions);
    return t.partitions;
  }

  invalidate(topic: string): void {
    this.partitions.delete(topic);
  }
}
