/**
 * Scrape-time group stats: per committed partition, the log end, the lag in messages and
 * `lagSeconds` = age of the oldest record not yet committed.
 *
 * The metrics collector is synchronous and a record's timestamp needs a log read, so the
 * timestamp of the batch holding each committed offset is cached per (group, partition,
 * committed offset): a scrape uses the cached value when the offset has not moved, and
 * starts one background `read(committed, 1)` (one batch header) when it has. A moved
 * offset therefore shows its new lagSeconds from the next scrape on; a scrape never waits
 * for disk and costs one map lookup per committed partition.
 */
import type { GroupCoordinator } from '../group/coordinator.js';
import type { GroupStats, GroupPartitionStats } from '../metrics/broker-metrics.js';
import type { LogManager } from '../storage/types.js';
import { readBatchHeader } from '../record/index.js';
import { tpKey } from '../protocol/topic-partition.js';

interface Cached {
  offset: number;
  /** baseTimestamp of the batch holding `offset`, -1 while the read is out, NaN when unknown. */
  ts: number;
}

export class GroupLagCache {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly logs: LogManager) {}

  /** Stats of every group of the given coordinators (cluster mode: one per coordinator partition led here). */
  *collect(coordinators: Iterable<GroupCoordinator>): Iterable<GroupStats> {
    const now = Date.now();
    const seen = new Set<string>();
    for (const coordinator of coordinators) for (const g of coordinator.listGroups()) {
      const partitions: GroupPartitionStats[] = [];
      for (const o of coordinator.fetchOffsets(g.groupId)) {
        const log = this.logs.log(o.topic, o.partition);
        if (!log || o.offset < 0) continue;
        const end = log.stats().logEndOffset;
        const lagMessages = Math.max(0, end - o.offset);
        const p: GroupPartitionStats = { topic: o.topic, partition: o.partition, committedOffset: o.offset, logEndOffset: end, lagMessages };
        if (lagMessages === 0) p.lagSeconds = 0;
        else {
          const key = `${g.groupId}\0${tpKey(o.topic, o.partition)}`;
          seen.add(key);
          const c = this.cache.get(key);
          if (!c || c.offset !== o.offset) this.refresh(key, o.topic, o.partition, o.offset);
          else if (c.ts >= 0) p.lagSeconds = Math.max(0, (now - c.ts) / 1000);
        }
        partitions.push(p);
      }
      yield { group: g.groupId, state: g.state, members: g.members, partitions };
    }
    for (const k of this.cache.keys()) if (!seen.has(k)) this.cache.delete(k);
  }

  private refresh(key: string, topic: string, partition: number, offset: number): void {
    const entry: Cached = { offset, ts: -1 };
    this.cache.set(key, entry);
    const log = this.logs.log(topic, partition);
    if (!log) return;
    log.read(offset, 1).then((r) => {
      if (r.bytes.length >= 61) entry.ts = readBatchHeader(r.bytes, 0).baseTimestamp;
    }, () => { /* retention removed it meanwhile: the next scrape retries */ this.cache.delete(key); });
  }
}
