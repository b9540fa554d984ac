/**
 * Cluster mode: reads a data partition this broker holds no in-sync replica of from its
 * leader, over the broker link (docs/cluster.md, "Share groups"). The share coordinator
 * reads jobs through it (job-source.ts) when its broker is not among a partition's in-sync
 * replicas (5 brokers, replication factor 3), where it would otherwise never offer them.
 *
 * What it reads is a consumer's Fetch at the leader: whole stored batches below the leader's
 * high watermark, never beyond it (a job past it could be truncated by a failover after being
 * handed out). Every answer brings the leader's log start and high watermark: `bounds` is
 * the last pair seen, which never moves a partition's end past a committed record (a high
 * watermark any leader reported survives every clean failover).
 *
 * Two ways in:
 *   - `bounds(topic, p)` (synchronous, for the acquire's one-step hand-out): the last pair
 *     seen, and it keeps one long-poll Fetch in flight from the end known, so new jobs arrive
 *     as the leader commits them: each answer that moves the end calls `onAdvance` (the
 *     broker wakes the acquires parked on the partition). Nobody asking, nothing polls.
 *   - `read(topic, p, first, last)`: the stored batches covering [first, last], from a small
 *     cache of what polls and reads brought (the batches a group acquires next are usually
 *     those the last poll brought), else fetched from `first`; so an acquire does not fetch
 *     per record.
 *
 * The cache holds at most `maxCacheBytes` per partition, the lowest offsets dropped first
 * (groups move forward; a redelivered record below is fetched again).
 */
import { batchSizeAt, lastOffsetOf, readInt64, BASE_OFFSET, RECORDS } from '../record/index.js';
import { Api, EARLIEST, LATEST } from '../protocol/api.js';
import { errorName } from '../protocol/errors.js';
import { tpKey } from '../protocol/topic-partition.js';
import { SluiceError } from '../errors.js';
import type { EventLogger } from '../event-logger.js';
import type { LinkFactory } from '../replication/types.js';

const EMPTY = Buffer.alloc(0);
/** One fetch's byte cap (a poll's and a read's). */
export const REMOTE_FETCH_BYTES = 1 << 20;
/** How long a poll waits at the leader for new records before answering empty. */
export const REMOTE_POLL_WAIT_MS = 500;
/** Per partition. */
export const REMOTE_CACHE_BYTES = 4 << 20;

export interface RemoteLeader {
  leader: number;
  leaderEpoch: number;
}

export interface RemotePartitionReaderOptions {
  links: LinkFactory;
  /** The partition's leader as this broker's view has it; undefined: none (offline), or unknown. */
  leaderOf(topic: string, partition: number): RemoteLeader | undefined;
  /** The partition's known end moved (the broker wakes acquires parked on it). */
  onAdvance(topic: string, partition: number): void;
  log: EventLogger;
  maxCacheBytes?: number;
  pollWaitMs?: number;
}

export interface RemoteBounds {
  logStartOffset: number;
  highWatermark: number;
}

interface CachedBatch {
  base: number;
  last: number;
  bytes: Buffer;
}

interface Remote {
  topic: string;
  partition: number;
  bounds: RemoteBounds | undefined;
  polling: boolean;
  /** Sorted by base offset, contiguous runs (offsets in a log follow on from batch to batch). */
  batches: CachedBatch[];
  bytes: number;
}

export class RemotePartitionReader {
  private readonly parts = new Map<string, Remote>();
  private closed = false;
  private readonly maxCacheBytes: number;
  private readonly pollWaitMs: number;

  constructor(private readonly opts: RemotePartitionReaderOptions) {
    this.maxCacheBytes = opts.maxCacheBytes ?? REMOTE_CACHE_BYTES;
    this.pollWaitMs = opts.pollWaitMs ?? REMOTE_POLL_WAIT_MS;
  }

  /**
   * The leader's log start and high watermark as last seen (undefined before the first
   * answer); keeps a poll in flight from the end known.
   */
  bounds(topic: string, partition: number): RemoteBounds | undefined {
    const r = this.remote(topic, partition);
    if (!r.polling && !this.closed) void this.poll(r);
    return r.bounds;
  }

  /**
   * The stored batches covering [firstOffset, lastOffset] up to the leader's high watermark
   * (whole batches, as a local read gives them; empty when nothing there is committed).
   * Throws the leader's error (retriable ones: NOT_LEADER_OR_FOLLOWER, a dropped link, ...)
   * or OFFSET_OUT_OF_RANGE below its log start.
   */
  async read(topic: string, partition: number, firstOffset: number, lastOffset: number): Promise<Buffer> {
    const r = this.remote(topic, partition);
    const parts: Buffer[] = [];
    let next = firstOffset;
    while (next <= lastOffset) {
      let b = find(r, next);
      if (!b) {
        await this.fetchInto(r, next, 0);
        b = find(r, next);
        if (!b) break; // nothing committed at `next` yet
      }
      parts.push(b.bytes);
      next = b.last + 1;
    }
    if (parts.length === 0) return EMPTY;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** ListOffsets at the leader: EARLIEST (log start), LATEST (high watermark) or the first offset at or after a timestamp. */
  async listOffset(topic: string, partition: number, timestamp: number): Promise<number> {
    const l = this.leader(topic, partition);
    const res = await (await this.opts.links(l.leader)).request(Api.ListOffsets, { partitions: [{ topic, partition, timestamp }] });
    const p = res.partitions[0];
    if (!p || p.error) throw new SluiceError(p?.error ? errorName(p.error.code) : 'UNKNOWN_SERVER_ERROR', `list offsets of ${topic}-${partition} at leader ${l.leader}: ${p?.error?.message ?? 'no answer'}`);
    return p.offset;
  }

  /** Forgets a topic's partitions (it was deleted). */
  forget(topic: string): void {
    for (const [k, r] of this.parts) if (r.topic === topic) this.parts.delete(k);
  }

  /** Stops polling; reads after this still work (the links decide). */
  close(): void {
    this.closed = true;
    this.parts.clear();
  }

  private remote(topic: string, partition: number): Remote {
    const k = tpKey(topic, partition);
    let r = this.parts.get(k);
    if (!r) this.parts.set(k, (r = { topic, partition, bounds: undefined, polling: false, batches: [], bytes: 0 }));
    return r;
  }

  private leader(topic: string, partition: number): RemoteLeader {
    const l = this.opts.leaderOf(topic, partition);
    if (!l) throw new SluiceError('NOT_LEADER_OR_FOLLOWER', `${topic}-${partition} has no leader to read from`);
    return l;
  }

  /** One long poll from the known end (the log start first: ListOffsets gives both bounds). */
  private async poll(r: Remote): Promise<void> {
    r.polling = true;
    const before = r.bounds?.highWatermark;
    try {
      if (!r.bounds) {
        const [start, end] = await Promise.all([this.listOffset(r.topic, r.partition, EARLIEST), this.listOffset(r.topic, r.partition, LATEST)]);
        r.bounds = { logStartOffset: start, highWatermark: end };
      } else {
        await this.fetchInto(r, r.bounds.highWatermark, this.pollWaitMs);
      }
    } catch (err) {
      this.opts.log.debug('remote job partition poll failed', { topic: r.topic, partition: r.partition, error: err });
      // No tight retry loop against a leader that refuses: the next bounds() after this asks again.
      await new Promise((res) => setTimeout(res, this.pollWaitMs).unref());
    } finally {
      r.polling = false;
    }
    if (this.closed || this.parts.get(tpKey(r.topic, r.partition)) !== r) return;
    if (r.bounds && r.bounds.highWatermark !== before) this.opts.onAdvance(r.topic, r.partition);
  }

  /** A consumer Fetch at the leader from `offset`: its batches go into the cache, its bounds replace ours. */
  private async fetchInto(r: Remote, offset: number, maxWaitMs: number): Promise<void> {
    const l = this.leader(r.topic, r.partition);
    const link = await this.opts.links(l.leader);
    const res = await link.request(Api.Fetch, {
      maxWaitMs, minBytes: 1, maxBytes: REMOTE_FETCH_BYTES,
      partitions: [{ topic: r.topic, partition: r.partition, offset, maxBytes: REMOTE_FETCH_BYTES, currentLeaderEpoch: l.leaderEpoch }],
    }, maxWaitMs + 30_000);
    const p = res.partitions[0];
    if (!p) throw new SluiceError('UNKNOWN_SERVER_ERROR', `fetch of ${r.topic}-${r.partition} at leader ${l.leader}: no answer for the partition`);
    if (p.error) {
      if (p.logStartOffset >= 0 && p.highWatermark >= 0) this.setBounds(r, p.logStartOffset, p.highWatermark);
      throw new SluiceError(errorName(p.error.code), `fetch of ${r.topic}-${r.partition} from ${offset} at leader ${l.leader}: ${p.error.message}`);
    }
    this.setBounds(r, p.logStartOffset, p.highWatermark);
    this.insert(r, Buffer.from(p.records.buffer, p.records.byteOffset, p.records.byteLength));
  }

  private setBounds(r: Remote, logStartOffset: number, highWatermark: number): void {
    // A new leader may report a lower high watermark for a while; what a leader once
    // reported is committed, so the end known never goes back.
    const hw = Math.max(highWatermark, r.bounds?.highWatermark ?? 0);
    r.bounds = { logStartOffset, highWatermark: hw };
    while (r.batches.length > 0 && r.batches[0].last < logStartOffset) this.dropFirst(r);
  }

  /** Adds the whole batches of `bytes` (copies: the frame they came in is not kept), then trims to the cache budget. */
  private insert(r: Remote, bytes: Buffer): void {
    let pos = 0;
    while (pos + RECORDS <= bytes.length) {
      const size = batchSizeAt(bytes, pos);
      if (size < RECORDS || pos + size > bytes.length) break;
      const base = readInt64(bytes, pos + BASE_OFFSET);
      const last = lastOffsetOf(bytes, pos);
      if (!find(r, base)) {
        const b = { base, last, bytes: Buffer.from(bytes.subarray(pos, pos + size)) };
        let i = r.batches.length;
        while (i > 0 && r.batches[i - 1].base > base) i--;
        r.batches.splice(i, 0, b);
        r.bytes += size;
      }
      pos += size;
    }
    while (r.bytes > this.maxCacheBytes && r.batches.length > 1) this.dropFirst(r);
  }

  private dropFirst(r: Remote): void {
    r.bytes -= r.batches.shift()!.bytes.length;
  }
}

/** The cached batch holding `offset`, by binary search. */
function find(r: Remote, offset: number): CachedBatch | undefined {
  const a = r.batches;
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid].last < offset) lo = mid + 1;
    else if (a[mid].base > offset) hi = mid - 1;
    else return a[mid];
  }
  return undefined;
}
