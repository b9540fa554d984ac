/**
 * The Consumer's fetching half: partition states, the pipelined fetch loop, and the queue
 * of fetched, undelivered chunks.
 *
 * Fetching is pipelined: one long-poll Fetch covering every ready partition is in flight;
 * when its response arrives, the next fetch offsets are read from the batch headers alone
 * and the next Fetch goes out at once, before any record is decoded. The broker reads the
 * next chunk while this process decodes and delivers the previous one, so replay speed is
 * bounded by the broker and the decoder, not by round trips. Undelivered fetched bytes are
 * capped by `maxBufferedBytes`; past it, fetching pauses until the application catches up.
 *
 * Each partition has an `epoch`, bumped by seek(), a reset, revocation or removal: data
 * fetched or queued under an older epoch is dropped, never delivered.
 *
 * Routing (client/broker-pool.ts): on a single broker the one Fetch goes to it. In a cluster
 * each partition is fetched from its leader, with the leader epoch Metadata gave as
 * `currentLeaderEpoch`: one Fetch per leader in flight, each going out again as soon as its
 * answer is in, so a leader with nothing new (a long poll) does not hold up the others. A
 * partition is in at most one Fetch at a time. After NOT_LEADER_OR_FOLLOWER, a leader-epoch
 * error, an unknown partition or a dropped connection, metadata is refreshed and the
 * partition is fetched again after a backoff, from the same offset, on whichever broker then
 * leads it: the consumer resumes from its position on the new leader.
 */
import { Api, EARLIEST, LATEST, type FetchResponse, type ListOffsetsResponse } from '../protocol/api.js';
import { BrokerError } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import type { Connection } from './connection.js';
import type { Logger } from './logger.js';
import { MessageDecoder, nextOffsetAfter } from './message-decoder.js';
import type { MetadataCache } from './metadata-cache.js';
import { needsRefresh, type BrokerPool } from './broker-pool.js';
import type { Message, TopicPartition } from './types.js';
import { tpKey } from '../protocol/topic-partition.js';

export type OffsetReset = 'earliest' | 'latest' | 'none';
export type ResetTarget = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'time'; ts: number };

export interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset the application receives. */
  position: number;
  /** Next offset to fetch (ahead of position by what is buffered). */
  fetchOffset: number;
  reset: ResetTarget | null;
  /** Bumped by seek(); data fetched under an older epoch is dropped. */
  epoch: number;
  highWatermark: number;
  logStartOffset: number;
  retryAt: number;
  /**
   * After a seek by time: skip records until the first with timestamp >= this (-1: off).
   * The broker answers ListOffsets from its time index, which may point at the start of
   * the batch holding the target, so the records before it are dropped here.
   */
  skipBeforeTs: number;
  /** Group mode: the position came from a committed offset (for the reset log line). */
  committedStart: boolean;
  /** Group mode: being given up; nothing more is delivered from it. */
  revoked?: boolean;
  /** Number of the last fetch that brought records for it (0: none yet); orders the next request. */
  servedIn: number;
  /** In a Fetch in flight now (a partition is in at most one). */
  fetching: boolean;
}

/** What nextBatch hands out: a batch, and the state and epoch its partition had then. */
export interface Delivery {
  batch: Batch;
  state: PartitionState;
  epoch: number;
}

export interface Batch {
  topic: string;
  partition: number;
  messages: Message[];
  highWatermark: number;
}

interface Chunk {
  state: PartitionState;
  epoch: number;
  records: Buffer;
  minOffset: number;
  highWatermark: number;
  /** Set once delivery from this chunk began. */
  decoder?: MessageDecoder;
  /** Bytes of `records` already taken off bufferedBytes. */
  released: number;
}

export interface FetcherOptions {
  autoOffsetReset: OffsetReset;
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  maxPartitionBytes: number;
  maxBufferedBytes: number;
  retryBackoffMs: number;
  /** For the reset log line of a committed offset. */
  groupId: string;
  logger: Logger;
}

/** Records decoded per delivery, at most (~260 KB of live Message objects and views at 100 B). */
const DELIVERY_MESSAGES = 1024;

export class PartitionFetcher {
  readonly states = new Map<string, PartitionState>();
  private readonly queue: Chunk[] = [];
  private bufferedBytes = 0;
  private fetches = 0;
  private loop: Promise<void> | null = null;
  private closed = false;
  private failure: Error | null = null;
  private loopWake: (() => void) | null = null;
  private dataWake: (() => void) | null = null;
  /** Fetches in flight, one per broker connection at most. */
  private readonly inFlight = new Map<Connection, Promise<void>>();
  private readonly meta: MetadataCache;

  constructor(private readonly pool: BrokerPool, private readonly o: FetcherOptions) {
    this.meta = pool.meta;
  }

  get(tp: TopicPartition): PartitionState | undefined {
    return this.states.get(tpKey(tp.topic, tp.partition));
  }

  /**
   * Adds a partition unless present: at `offset`, or (offset < 0) per `reset` (null: no
   * position until seek()). Returns the new state, or undefined if it was there already.
   */
  add(topic: string, partition: number, offset: number, reset: ResetTarget | null, committedStart?: boolean): PartitionState | undefined {
    const k = tpKey(topic, partition);
    if (this.states.has(k)) return undefined;
    const s: PartitionState = {
      topic, partition, position: offset, fetchOffset: offset, epoch: 0, highWatermark: -1, logStartOffset: -1, retryAt: 0,
      skipBeforeTs: -1, reset: offset >= 0 ? null : reset, committedStart: committedStart === true, servedIn: 0, fetching: false,
    };
    this.states.set(k, s);
    return s;
  }

  /** Stops fetching and delivering `tps` now; they stay until remove(). */
  pause(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const s = this.get(tp);
      if (s) { s.epoch++; s.revoked = true; }
    }
  }

  /**
   * Drops what was fetched for `s` past its position, so that its next delivery starts at
   * the position again (run() after a handler threw).
   */
  rewind(s: PartitionState): void {
    s.epoch++;
    s.fetchOffset = s.position;
    s.retryAt = 0;
    this.wakeLoop();
  }

  remove(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const s = this.get(tp);
      if (s) s.epoch++;
      this.states.delete(tpKey(tp.topic, tp.partition));
    }
  }

  /** Starts the fetch loop if it is not running. */
  start(): void {
    if (!this.loop) this.loop = this.fetchLoop().catch((err) => this.fail(err as Error));
  }

  /** Makes the next delivery throw `err` (the first failure wins). */
  fail(err: Error): void {
    if (!this.failure && !this.closed) this.failure = err;
    this.wakeData();
  }

  wakeLoop(): void {
    const w = this.loopWake;
    this.loopWake = null;
    w?.();
  }

  private wakeData(): void {
    const w = this.dataWake;
    this.dataWake = null;
    w?.();
  }

  /** Stops the loop and ends a waiting nextBatch(); call after the connection is closing. */
  close(): void {
    this.closed = true;
    this.wakeLoop();
    this.wakeData();
  }

  /** Resolves once the loop has stopped (after close()). */
  async stopped(): Promise<void> {
    await this.loop?.catch(() => {});
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.loopWake = null; resolve(); }, ms);
      this.loopWake = () => { clearTimeout(t); resolve(); };
    });
  }

  private async fetchLoop(): Promise<void> {
    try {
      await this.fetchLoopBody();
    } finally {
      await Promise.all(this.inFlight.values());
    }
  }

  private async fetchLoopBody(): Promise<void> {
    while (!this.closed && !this.failure) {
      const now = Date.now();
      const resets = [...this.states.values()].filter((s) => s.reset && !s.revoked && s.retryAt <= now);
      if (resets.length) await this.resolveResets(resets);
      if (this.closed) return;
      if (this.bufferedBytes >= this.o.maxBufferedBytes) {
        await new Promise<void>((resolve) => { this.loopWake = resolve; });
        continue;
      }
      const t = Date.now();
      const ready = [...this.states.values()].filter((s) => !s.reset && !s.revoked && s.fetchOffset >= 0 && s.retryAt <= t && !s.fetching);
      if (ready.length === 0 && this.inFlight.size === 0) {
        const unassignedNone = [...this.states.values()].find((s) => !s.reset && s.fetchOffset < 0);
        if (unassignedNone) {
          throw new SluiceError('NO_OFFSET', `${unassignedNone.topic}/${unassignedNone.partition} has no position and autoOffsetReset is 'none'; call seek()`);
        }
      }
      if (ready.length > 0) {
        // The broker fills maxBytes in request order: a fixed order would let the first
        // partitions take every response while they have data and starve the others. As in
        // Kafka's consumer, partitions that just returned records go to the back (stable sort:
        // ties keep assignment order).
        ready.sort((a, b) => a.servedIn - b.servedIn);
        this.startFetches(ready);
      }
      // Until a fetch is answered (it wakes the loop), a partition's backoff ends, or a
      // seek, an assignment or a delivery wakes it.
      const next = Math.min(...[...this.states.values()].map((s) => s.retryAt).filter((x) => x > t), t + 1000);
      await this.sleep(Math.max(1, next - t));
    }
  }

  /** Sends a Fetch for `ready` to each leader that has none in flight (one to the broker on a single broker). */
  private startFetches(ready: PartitionState[]): void {
    if (!this.meta.clustered) {
      if (!this.inFlight.has(this.pool.home)) this.startFetch(this.pool.home, ready, undefined);
      return;
    }
    for (const [conn, g] of this.pool.byLeader(ready, (s, err) => { this.backOff(s, err); })) {
      if (!this.inFlight.has(conn)) this.startFetch(conn, g.items, g.leaderEpochs); // else they go out with that leader's next fetch
    }
  }

  private startFetch(conn: Connection, states: PartitionState[], leaderEpochs: (number | undefined)[] | undefined): void {
    for (const s of states) s.fetching = true;
    const p = this.fetchOnce(conn, states, leaderEpochs)
      .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        for (const s of states) s.fetching = false;
        this.inFlight.delete(conn);
        this.wakeLoop();
      });
    this.inFlight.set(conn, p);
  }

  /** After a retriable error of `s`: fetch it again after the backoff, with fresh metadata when its leader may have moved. */
  private backOff(s: PartitionState, err: unknown): void {
    s.retryAt = Date.now() + this.o.retryBackoffMs;
    if (needsRefresh(err, this.meta.clustered)) void this.meta.refresh([s.topic]).catch(() => undefined);
  }

  /** ListOffsets for partitions to reset: to the broker, or in a cluster to each leader. */
  private async resolveResets(resets: PartitionState[]): Promise<void> {
    if (!this.meta.clustered) return this.resolveResetsOn(this.pool.home, resets);
    const groups = this.pool.byLeader(resets, (s, err) => { this.backOff(s, err); });
    await Promise.all([...groups].map(([conn, g]) => this.resolveResetsOn(conn, g.items)));
  }

  private async resolveResetsOn(conn: Connection, resets: PartitionState[]): Promise<void> {
    const epochs = resets.map((s) => s.epoch);
    const partitions = resets.map((s) => ({
      topic: s.topic, partition: s.partition,
      timestamp: s.reset!.kind === 'earliest' ? EARLIEST : s.reset!.kind === 'latest' ? LATEST : (s.reset as { ts: number }).ts,
    }));
    let res: ListOffsetsResponse;
    try {
      res = await conn.request(Api.ListOffsets, { partitions });
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) {
        for (const s of resets) this.backOff(s, err);
        return;
      }
      throw err;
    }
    for (const r of res.partitions) {
      const s = this.states.get(tpKey(r.topic, r.partition));
      if (!s) continue;
      const i = resets.indexOf(s);
      if (i < 0 || epochs[i] !== s.epoch) continue; // seeked again meanwhile
      if (r.error && r.error.code !== 0) {
        const e = new BrokerError(r.error.code, `list offsets of ${s.topic}/${s.partition}: ${r.error.message}`, r.error.data);
        if (!e.retriable) throw e;
        this.backOff(s, e);
        continue;
      }
      if (s.reset!.kind === 'time') s.skipBeforeTs = s.reset!.ts;
      s.reset = null;
      s.position = s.fetchOffset = r.offset;
    }
  }

  /** One Fetch of `ready` on `conn`; `leaderEpochs` (cluster mode) are sent as each partition's currentLeaderEpoch. */
  private async fetchOnce(conn: Connection, ready: PartitionState[], leaderEpochs: (number | undefined)[] | undefined): Promise<void> {
    const epochs = ready.map((s) => s.epoch);
    const maxBytes = this.o.maxPartitionBytes;
    const partitions = ready.map((s, i) => {
      const e = leaderEpochs?.[i];
      return e === undefined
        ? { topic: s.topic, partition: s.partition, offset: s.fetchOffset, maxBytes }
        : { topic: s.topic, partition: s.partition, offset: s.fetchOffset, maxBytes, currentLeaderEpoch: e };
    });
    let res: FetchResponse;
    try {
      res = await conn.request(
        Api.Fetch,
        { maxWaitMs: this.o.maxWaitMs, minBytes: this.o.minBytes, maxBytes: this.o.maxBytes, partitions },
        this.o.maxWaitMs + conn.requestTimeoutMs,
      );
    } catch (err) {
      if (this.closed) return;
      if (err instanceof SluiceError && err.retriable) {
        // Connection dropped or broker busy: the same offsets are fetched again after the
        // backoff (in a cluster, from whichever broker then leads each partition).
        for (const s of ready) this.backOff(s, err);
        return;
      }
      throw err;
    }
    let added = false;
    const fetchNo = ++this.fetches;
    for (const r of res.partitions ?? []) {
      const s = this.states.get(tpKey(r.topic, r.partition));
      if (!s) continue;
      const i = ready.indexOf(s);
      if (i < 0 || epochs[i] !== s.epoch || s.reset) continue; // seek() happened while the fetch was out
      if (r.error && r.error.code !== 0) {
        this.onPartitionError(s, r.error.code, r.error.message, r.error.data);
        continue;
      }
      if (r.highWatermark !== undefined) s.highWatermark = r.highWatermark;
      if (r.logStartOffset !== undefined) s.logStartOffset = r.logStartOffset;
      const records = r.records;
      if (!records || records.length === 0) continue;
      const buf = Buffer.isBuffer(records) ? records : Buffer.from(records.buffer, records.byteOffset, records.length);
      const next = nextOffsetAfter(buf);
      if (next < 0) continue;
      this.queue.push({ state: s, epoch: s.epoch, records: buf, minOffset: s.fetchOffset, highWatermark: s.highWatermark, released: 0 });
      this.bufferedBytes += buf.length;
      s.fetchOffset = next;
      s.servedIn = fetchNo;
      added = true;
    }
    if (added) this.wakeData();
  }

  private onPartitionError(s: PartitionState, code: number, message: string, data?: Record<string, unknown>): void {
    const err = new BrokerError(code, `fetch ${s.topic}/${s.partition} at offset ${s.fetchOffset}: ${message}`, data);
    if (err.code === 'OFFSET_OUT_OF_RANGE') {
      const range = data && data.logStartOffset !== undefined ? ` (log holds ${data.logStartOffset}..${data.logEndOffset})` : '';
      const reset = this.o.autoOffsetReset;
      if (reset === 'none') throw err;
      const what = s.committedStart && s.fetchOffset === s.position ? `committed offset ${s.fetchOffset} of group '${this.o.groupId}'` : 'offset ' + s.fetchOffset;
      this.o.logger.warn({ topic: s.topic, partition: s.partition, offset: s.fetchOffset, reset }, `${what} of ${s.topic}/${s.partition} is out of range${range}; resetting to ${reset} (autoOffsetReset)`);
      s.epoch++;
      s.reset = { kind: reset };
      return;
    }
    if (!err.retriable) throw err;
    if (err.code === 'UNKNOWN_TOPIC_OR_PARTITION' && !this.meta.clustered) this.meta.invalidate(s.topic);
    this.backOff(s, err);
  }

  private release(bytes: number): void {
    this.bufferedBytes -= bytes;
    if (this.bufferedBytes < this.o.maxBufferedBytes) this.wakeLoop();
  }

  /**
   * Next chunk of decoded messages (non-empty), or null once closed, with its partition's
   * state and the epoch it was taken off the queue under. The caller checks that epoch again
   * when it gets the chunk: the answer of a heartbeat read in the same tick as the fetch
   * answer runs before the caller's continuation, and a revocation there commits the
   * position without this chunk (the application was not busy yet), so the chunk is no
   * longer the application's (group-kill on CI: a revoked partition's messages handled
   * after its release was committed, and again by the new owner).
   */
  async nextBatch(): Promise<Delivery | null> {
    this.start();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closed) return null;
      const c = this.queue.shift();
      if (!c) {
        await new Promise<void>((resolve) => { this.dataWake = resolve; });
        continue;
      }
      const s = c.state;
      if (c.epoch !== s.epoch) {
        this.release(c.records.length - c.released);
        continue;
      }
      // A fetch is decoded and delivered a piece at a time (see MessageDecoder): the
      // Message objects of one delivery are all alive together, and a small live set keeps
      // GC scavenges cheap.
      c.decoder ??= new MessageDecoder(c.records, s.topic, s.partition, Math.max(c.minOffset, s.position));
      let messages: Message[] = [];
      let more: boolean;
      try {
        more = c.decoder.next(messages, DELIVERY_MESSAGES);
      } catch (err) {
        this.release(c.records.length - c.released);
        throw err;
      }
      if (more) this.queue.unshift(c);
      const used = (more ? c.decoder.consumed : c.records.length) - c.released;
      c.released += used;
      this.release(used);
      if (s.skipBeforeTs >= 0) {
        const from = messages.findIndex((m) => m.timestamp >= s.skipBeforeTs);
        if (from < 0) {
          if (messages.length) s.position = messages[messages.length - 1].offset + 1;
          continue;
        }
        s.skipBeforeTs = -1;
        messages = messages.slice(from);
      }
      if (messages.length === 0) continue;
      return { batch: { topic: s.topic, partition: s.partition, messages, highWatermark: c.highWatermark }, state: s, epoch: c.epoch };
    }
  }
}
