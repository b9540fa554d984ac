/**
 * Where a share coordinator reads the jobs it hands out (docs/cluster.md, "Share groups"):
 * the one seam the share handlers call for a data partition's bounds and bytes (ShareAcquire's
 * hand-out and answer, ShareReset's targets, the dead-letter copy's original, ShareCancel's
 * bounds and its search by key).
 *
 *   single broker        the local log, up to its end (as before cluster mode)
 *   cluster, in sync     the local replica (leader, or a follower in the ISR), up to the
 *                        committed end this broker knows (ReplicaManager.committedEnd: the
 *                        high watermark), never the log end: a record past it may be
 *                        truncated by a failover, and a job handed out from it would vanish
 *   cluster, otherwise   the partition's leader over the broker link, up to the high
 *                        watermark it reports (remote-partition-reader.ts, with a small
 *                        cache): a broker that holds no replica of a partition (5 brokers,
 *                        replication factor 3), or one out of sync, still offers its jobs
 *
 * One instance per broker context, `jobSource(ctx)`.
 */
import { EARLIEST, LATEST, type ShareResetTo } from '../protocol/api.js';
import { SluiceError } from '../errors.js';
import { UnknownTopicError } from '../storage/errors.js';
import type { PartitionLog } from '../storage/types.js';
import type { PartitionSource } from '../queue/share-coordinator.js';
import type { BrokerContext } from './context.js';
import { readAcquired, ShareReadCache } from './share-read.js';
import type { OffsetRange } from '../record/index.js';
import { RemotePartitionReader } from './remote-partition-reader.js';

export interface JobSource {
  /**
   * The partitions of `topics` a share group may acquire from now, and how far. Synchronous:
   * the coordinator hands out in one step. A remote partition is offered up to the high
   * watermark last heard from its leader (none before the first answer; each answer that
   * moves it wakes the acquires parked on the partition).
   */
  partitions(topics: readonly string[]): PartitionSource[];
  /**
   * The records of `ranges` (ascending) of a partition `partitions` offered: from a local
   * log, its batches cut down to those records (share-read.ts `readAcquired`); from a leader,
   * the whole batches covering them (the client keeps only the acquired records).
   */
  read(topic: string, partition: number, ranges: readonly OffsetRange[]): Promise<Buffer>;
  /**
   * One partition's bounds as `partitions` would offer them, asking the leader (ListOffsets)
   * when a remote partition's are not known yet; undefined when this broker has no role for it.
   */
  source(topic: string, partition: number): Promise<PartitionSource | undefined>;
  /**
   * Stored batches from the one holding `offset` on: locally up to about 1 MiB, from a leader
   * those covering up to `lastOffset` (below its high watermark). Empty when nothing is there.
   */
  readBatches(topic: string, partition: number, offset: number, lastOffset: number): Promise<Buffer>;
  /**
   * Where a group with startFrom 'latest' starts a partition it reads from a follower replica
   * here: its leader's high watermark (ListOffsets), since the one a follower knows lags by up
   * to a fetch and would hand out records produced before the group. Undefined when
   * `partitions` already offers the leader's end (leader, remote partition, single broker).
   */
  latestAtLeader(topic: string, partition: number): Promise<number | undefined>;
  /**
   * The partition's end at its leader, asked now (ListOffsets) when this broker is not the
   * leader: a remote partition's end known here comes with the next long poll, a follower's
   * with the next fetch. Undefined when this broker leads it (or is the only broker).
   */
  leaderEnd(topic: string, partition: number): Promise<number | undefined>;
  /** Where ShareReset's `to` lands on a partition, and the end it was resolved against. */
  resetTarget(topic: string, partition: number, to: ShareResetTo): Promise<{ offset: number; logEndOffset: number }>;
  /**
   * The stored batch(es) holding `offset`, or undefined once the partition's log start passed
   * it (retention deleted it). Throws when it cannot tell (no leader, a dropped link).
   */
  readAt(topic: string, partition: number, offset: number): Promise<Buffer | undefined>;
}

/** One local read of readBatches. */
const READ_BYTES = 1 << 20;

const registry = new WeakMap<BrokerContext, JobSource>();

/** This broker's job source (created on first use). */
export function jobSource(ctx: BrokerContext): JobSource {
  let s = registry.get(ctx);
  if (!s) registry.set(ctx, (s = new BrokerJobSource(ctx)));
  return s;
}

class BrokerJobSource implements JobSource {
  private remoteReader: RemotePartitionReader | undefined;
  /** The batches last read per local partition: most acquires take records of the same one. */
  private readonly readCache = new ShareReadCache();

  constructor(private readonly ctx: BrokerContext) {}

  partitions(topics: readonly string[]): PartitionSource[] {
    const out: PartitionSource[] = [];
    for (const topic of topics) {
      const n = this.ctx.logs.topic(topic)?.partitions ?? 0;
      for (let partition = 0; partition < n; partition++) {
        const s = this.known(topic, partition);
        if (s) out.push(s);
      }
    }
    return out;
  }

  async source(topic: string, partition: number): Promise<PartitionSource | undefined> {
    const s = this.known(topic, partition);
    if (s || this.local(topic, partition)) return s;
    const remote = this.remote();
    if (!remote) return undefined;
    const [start, end] = await Promise.all([remote.listOffset(topic, partition, EARLIEST), remote.listOffset(topic, partition, LATEST)]);
    return { topic, partition, logStartOffset: start, logEndOffset: end };
  }

  async latestAtLeader(topic: string, partition: number): Promise<number | undefined> {
    const rm = this.ctx.replicas;
    if (!rm || rm.role(topic, partition) !== 'follower' || !this.local(topic, partition)) return undefined;
    return this.remote()?.listOffset(topic, partition, LATEST);
  }

  async leaderEnd(topic: string, partition: number): Promise<number | undefined> {
    if (this.local(topic, partition)) return this.latestAtLeader(topic, partition);
    return this.remote()?.listOffset(topic, partition, LATEST);
  }

  async readBatches(topic: string, partition: number, offset: number, lastOffset: number): Promise<Buffer> {
    const log = this.local(topic, partition);
    if (log) return (await log.read(offset, READ_BYTES)).bytes;
    const remote = this.remote();
    if (!remote) throw new UnknownTopicError(topic, partition);
    return remote.read(topic, partition, offset, lastOffset);
  }

  /** A partition's bounds as known now, without asking anyone (see partitions()). */
  private known(topic: string, partition: number): PartitionSource | undefined {
    const log = this.local(topic, partition);
    if (log) {
      const rm = this.ctx.replicas;
      const end = rm ? rm.committedEnd(topic, partition) : log.logEndOffset;
      return end === undefined ? undefined : { topic, partition, logStartOffset: log.logStartOffset, logEndOffset: Math.min(end, log.logEndOffset) };
    }
    const b = this.remote()?.bounds(topic, partition);
    return b && { topic, partition, logStartOffset: b.logStartOffset, logEndOffset: b.highWatermark };
  }

  async read(topic: string, partition: number, ranges: readonly OffsetRange[]): Promise<Buffer> {
    const log = this.local(topic, partition);
    if (log) return readAcquired(log, ranges, this.readCache);
    const remote = this.remote();
    if (!remote) throw new Error(`partition ${topic}/${partition} vanished`);
    return remote.read(topic, partition, ranges[0]!.firstOffset, ranges[ranges.length - 1]!.lastOffset);
  }

  async resetTarget(topic: string, partition: number, to: ShareResetTo): Promise<{ offset: number; logEndOffset: number }> {
    const log = this.local(topic, partition);
    if (log) return { offset: await localTarget(log, to), logEndOffset: log.logEndOffset };
    const remote = this.remote();
    if (!remote) throw new UnknownTopicError(topic, partition);
    // The leader answers with its high watermark where a single broker says log end.
    const [start, end] = await Promise.all([remote.listOffset(topic, partition, EARLIEST), remote.listOffset(topic, partition, LATEST)]);
    const offset = to === 'earliest' ? start
      : to === 'latest' ? end
      : 'offset' in to ? Math.min(end, Math.max(start, to.offset))
      : await remote.listOffset(topic, partition, to.timestamp);
    return { offset, logEndOffset: end };
  }

  async readAt(topic: string, partition: number, offset: number): Promise<Buffer | undefined> {
    const log = this.local(topic, partition);
    if (log) {
      if (offset < log.logStartOffset || offset >= log.logEndOffset) return undefined;
      return (await log.read(offset, 1)).bytes;
    }
    const remote = this.remote();
    if (!remote) return undefined; // single broker: no log is no record
    let bytes: Buffer | undefined;
    try {
      bytes = await remote.read(topic, partition, offset, offset);
    } catch (err) {
      if (!(err instanceof SluiceError && err.code === 'OFFSET_OUT_OF_RANGE')) throw err;
    }
    if (bytes && bytes.length > 0) return bytes;
    // Not served: gone only when the leader's log start passed it; else (not committed
    // there yet, a leader that truncated) the caller tries again later.
    if (offset < await remote.listOffset(topic, partition, EARLIEST)) return undefined;
    throw new SluiceError('OFFSET_OUT_OF_RANGE', `offset ${offset} of ${topic}-${partition} is not committed at its leader (yet); asked again later`);
  }

  /**
   * The local log to read `topic`-`partition` from: single broker, the log; cluster mode, a
   * replica in sync (leader, or a follower in the ISR), else none (read from the leader).
   */
  private local(topic: string, partition: number): PartitionLog | undefined {
    const ctx = this.ctx;
    const log = ctx.logs.log(topic, partition);
    const rm = ctx.replicas;
    if (!log || !rm || !ctx.cluster) return log;
    const role = rm.role(topic, partition);
    if (role === 'leader') return log;
    if (role === 'follower' && ctx.cluster.node.view.partition(topic, partition)?.state.isr.includes(rm.nodeId)) return log;
    return undefined;
  }

  /** Cluster mode: the reader of partitions with no replica in sync here; undefined on a single broker. */
  private remote(): RemotePartitionReader | undefined {
    const ctx = this.ctx;
    const cluster = ctx.cluster;
    if (!cluster || !ctx.replicas) return undefined;
    if (!this.remoteReader) {
      const reader = new RemotePartitionReader({
        links: cluster.links,
        leaderOf: (topic, partition) => {
          const s = cluster.node.view.partition(topic, partition)?.state;
          // No leader, or this broker (its replica is on the way): nothing to read remotely.
          return s && s.leader >= 0 && s.leader !== cluster.nodeId ? { leader: s.leader, leaderEpoch: s.leaderEpoch } : undefined;
        },
        onAdvance: (topic, partition) => ctx.delayed.wakePartition(topic, partition),
        log: ctx.log,
      });
      ctx.logs.events.on('topicDeleted', (e) => reader.forget(e.topic));
      this.remoteReader = reader;
    }
    return this.remoteReader;
  }
}

async function localTarget(log: PartitionLog, to: ShareResetTo): Promise<number> {
  const start = log.logStartOffset;
  const end = log.logEndOffset;
  if (to === 'earliest') return start;
  if (to === 'latest') return end;
  if ('offset' in to) return Math.min(end, Math.max(start, to.offset));
  return (await log.offsetForTimestamp(to.timestamp)) ?? end;
}
