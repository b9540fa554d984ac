/**
 * Consumer: reads assigned partitions from a position, by `for await` or `run()`.
 *
 * Fetching is pipelined: one long-poll Fetch covering every assigned partition is in
 * flight; when its response arrives, the next fetch offsets are read from the batch
 * headers alone and the next Fetch goes out at once, before any record is decoded. The
 * broker reads the next chunk while this process decodes and delivers the previous one,
 * so replay speed is bounded by the broker and the decoder, not by round trips.
 * Undelivered fetched bytes are capped by `maxBufferedBytes`; past it, fetching pauses
 * until the application catches up.
 *
 * Positions: `position(tp)` is the next offset the application will receive. seek()
 * changes it and discards anything already fetched for that partition. After a dropped
 * connection the fetch is retried from the same offsets once the connection is back.
 *
 * autoOffsetReset decides where a partition without a position starts and what happens
 * on OFFSET_OUT_OF_RANGE: 'earliest' (the default here; Kafka's is 'latest') re-reads the
 * oldest retained record, because for a replay log re-reading beats silently skipping
 * everything retention has not yet removed; 'latest' jumps to the end; 'none' raises the
 * error to the application. Every reset is logged with its reason.
 *
 * Consumer groups: with `groupId` and `topics` (names or a RegExp) the partitions come
 * from the group coordinator instead of assign() (group-member.ts heartbeats on its own
 * timer). A granted partition starts at the group's committed offset, or per
 * autoOffsetReset when there is none (logged). Commits send `position` (last delivered + 1)
 * with the member's epoch: automatically every autoCommitIntervalMs, before a partition is
 * released, and on close(); or by commit(). A partition is released only once the
 * application is between messages (it asked for the next one or its handler returned), so
 * a commit never covers a message still being handled. If the application stays inside a
 * handler (or does not pull the next message) for maxPollIntervalMs, the consumer leaves
 * the group, logging that the handler is stuck, and rejoins on its next pull.
 */
import {
  Api, EARLIEST, LATEST, type FetchResponse, type ListOffsetsResponse, type OffsetCommitResponse, type OffsetFetchResponse,
} from '../protocol/api.js';
import { BrokerError, ERRORS } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { ClientClosedError, InvalidArgumentError } from './errors.js';
import { decodeMessages, nextOffsetAfter, wholeBatchesWithin } from './message-decoder.js';
import { MetadataCache } from './metadata-cache.js';
import { brokerUrl } from './producer.js';
import { GroupMember } from './group-member.js';
import { groupOptions, type GroupConsumerOptions } from './group-options.js';
import type { Message, TopicPartition } from './types.js';

export type OffsetReset = 'earliest' | 'latest' | 'none';
export type SeekTarget = number | 'earliest' | 'latest' | { timestamp: number | Date };

export interface ConsumerOptions extends ConnectionOptions, GroupConsumerOptions {
  url?: string;
  brokers?: string[];
  autoOffsetReset?: OffsetReset;
  /** Long-poll wait of a fetch when no data is there. Default 500 ms. */
  maxWaitMs?: number;
  minBytes?: number;
  /** Cap on one fetch response. Default 16 MiB. */
  maxBytes?: number;
  /**
   * Cap per partition in one fetch. Default 1 MiB (Kafka's max.partition.fetch.bytes):
   * a partition's fetched bytes are decoded and delivered as one array, so this bounds
   * the live Message objects per delivery; with 8 MiB the young-generation GC copied
   * ~80k live messages per scavenge and the broker sat idle while one big response was
   * decoded. Replay of 1M x 100 B, 1 partition: 1.57 M -> 2.50 M msgs/s (medians of 3).
   * The first batch is always returned whole, so a batch larger than this still flows.
   */
  maxPartitionBytes?: number;
  /** Fetched, undelivered bytes above which fetching pauses. Default 32 MiB. */
  maxBufferedBytes?: number;
  /** Backoff after a failed fetch. Default 200 ms. */
  retryBackoffMs?: number;
}

export interface Batch {
  topic: string;
  partition: number;
  messages: Message[];
  highWatermark: number;
}

export interface RunOptions {
  eachBatch?: (batch: Batch) => Promise<void> | void;
  eachMessage?: (message: Message) => Promise<void> | void;
}

type ResetTarget = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'time'; ts: number };

interface PartitionState {
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
  committedStart?: boolean;
  /** Group mode: being given up; nothing more is delivered from it. */
  revoked?: boolean;
}

interface Chunk {
  state: PartitionState;
  epoch: number;
  records: Buffer;
  minOffset: number;
  highWatermark: number;
}

const tpKey = (topic: string, partition: number) => `${topic}\0${partition}`;

/** Fetched bytes decoded per delivery (whole batches; at least one). */
const DELIVERY_BYTES = 1024 * 1024;

export class Consumer {
  readonly conn: Connection;
  private readonly meta: MetadataCache;
  private readonly autoOffsetReset: OffsetReset;
  private readonly maxWaitMs: number;
  private readonly minBytes: number;
  private readonly maxBytes: number;
  private readonly maxPartitionBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly retryBackoffMs: number;
  private readonly log: (msg: string) => void;

  private readonly states = new Map<string, PartitionState>();
  private readonly queue: Chunk[] = [];
  private bufferedBytes = 0;
  private loop: Promise<void> | null = null;
  private closed = false;
  private failure: Error | null = null;
  private loopWake: (() => void) | null = null;
  private dataWake: (() => void) | null = null;
  // --- group mode (undefined without groupId) ---
  private readonly group: GroupMember | undefined;
  private readonly g: ReturnType<typeof groupOptions>;
  private commitTimer: NodeJS.Timeout | undefined;
  /** When the application got its current message or batch; 0 while it waits for the next. */
  private busySince = 0;
  private idleWaiters: (() => void)[] = [];
  /** Last offset committed per partition, so auto-commit sends only what moved. */
  private readonly committed = new Map<string, number>();

  constructor(opts: ConsumerOptions = {}) {
    this.autoOffsetReset = opts.autoOffsetReset ?? 'earliest';
    if (!['earliest', 'latest', 'none'].includes(this.autoOffsetReset)) {
      throw new InvalidArgumentError(`autoOffsetReset must be 'earliest', 'latest' or 'none'`);
    }
    this.maxWaitMs = opts.maxWaitMs ?? 500;
    this.minBytes = opts.minBytes ?? 1;
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.maxPartitionBytes = opts.maxPartitionBytes ?? 1024 * 1024;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 32 * 1024 * 1024;
    this.retryBackoffMs = opts.retryBackoffMs ?? 200;
    this.log = opts.log ?? ((m) => process.stderr.write(`sluice consumer: ${m}\n`));
    this.conn = new Connection(brokerUrl(opts), { ...opts, log: this.log });
    this.meta = new MetadataCache(this.conn);
    this.g = groupOptions(opts);
    if (this.g.groupId) {
      this.group = new GroupMember(this.conn, {
        groupId: this.g.groupId, topics: this.g.topics, sessionTimeoutMs: opts.sessionTimeoutMs, rebalanceTimeoutMs: opts.rebalanceTimeoutMs,
        maxPollIntervalMs: this.g.maxPollIntervalMs, retryBackoffMs: this.retryBackoffMs, log: this.log,
      }, {
        assigned: (tps) => this.groupAssigned(tps),
        revoked: (tps) => this.groupRevoked(tps),
        lost: (tps) => this.dropPartitions(tps),
        busyForMs: () => (this.busySince ? Date.now() - this.busySince : 0),
      });
    }
  }

  async connect(): Promise<void> {
    await this.conn.connect();
    this.joinGroup();
  }

  private joinGroup(): void {
    if (!this.group || this.closed || this.group.active) return;
    this.group.start();
    if (this.g.autoCommit && !this.commitTimer) {
      this.commitTimer = setInterval(() => {
        this.commit().catch((err: unknown) => this.log(`auto-commit failed: ${(err as Error).message}`));
      }, this.g.autoCommitIntervalMs);
    }
  }

  // --- group mode ----------------------------------------------------------------

  /** The member id and epoch in the group (memberId '' before the first heartbeat answer). */
  groupMember(): { memberId: string; memberEpoch: number } | undefined {
    return this.group ? { memberId: this.group.memberId, memberEpoch: this.group.memberEpoch } : undefined;
  }

  /**
   * Commits positions (last delivered + 1) of the given partitions, or of every owned one
   * that moved since its last commit. Resolves when the broker has them durably. A commit
   * refused for a stale epoch (a rebalance raced it) is retried once after a heartbeat.
   */
  async commit(tps?: readonly TopicPartition[]): Promise<void> {
    if (!this.group) throw new InvalidArgumentError('commit() needs a groupId');
    const partitions: { topic: string; partition: number; offset: number }[] = [];
    for (const tp of tps ?? [...this.states.values()]) {
      const k = tpKey(tp.topic, tp.partition);
      const s = this.states.get(k);
      if (!s || s.position < 0) continue;
      if (!tps && this.committed.get(k) === s.position) continue;
      partitions.push({ topic: s.topic, partition: s.partition, offset: s.position });
    }
    if (partitions.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      const res = await this.conn.request<OffsetCommitResponse>(Api.OffsetCommit, {
        groupId: this.g.groupId, memberId: this.group.memberId, memberEpoch: this.group.memberEpoch, partitions,
      });
      const failed = res.partitions.find((p) => p.error && p.error.code !== 0);
      if (!failed) {
        for (const p of partitions) this.committed.set(tpKey(p.topic, p.partition), p.offset);
        return;
      }
      const e = new BrokerError(failed.error!.code, `commit to group '${this.g.groupId}' (${failed.topic}/${failed.partition}): ${failed.error!.message}`, failed.error!.data);
      if (e.code === 'STALE_MEMBER_EPOCH' && attempt === 0) {
        await this.group.nextResponse();
        continue;
      }
      throw e;
    }
  }

  private async groupAssigned(tps: TopicPartition[]): Promise<void> {
    const res = await this.conn.request<OffsetFetchResponse>(Api.OffsetFetch, { groupId: this.g.groupId, partitions: tps });
    for (const r of res.partitions) {
      const k = tpKey(r.topic, r.partition);
      if (this.states.has(k)) continue;
      const s: PartitionState = {
        topic: r.topic, partition: r.partition, position: -1, fetchOffset: -1, epoch: 0, highWatermark: -1, logStartOffset: -1, retryAt: 0,
        skipBeforeTs: -1, reset: null, committedStart: false,
      };
      if (r.offset >= 0 && !(r.error && r.error.code !== 0)) {
        s.position = s.fetchOffset = r.offset;
        s.committedStart = true;
        this.committed.set(k, r.offset);
      } else {
        if (this.autoOffsetReset === 'none') {
          this.fail(new SluiceError('NO_OFFSET', `group '${this.g.groupId}' has no committed offset for ${r.topic}/${r.partition} and autoOffsetReset is 'none'`));
          return;
        }
        this.log(`group '${this.g.groupId}' has no committed offset for ${r.topic}/${r.partition}; starting at ${this.autoOffsetReset} (autoOffsetReset)`);
        s.reset = { kind: this.autoOffsetReset };
      }
      this.states.set(k, s);
    }
    this.g.onPartitionsAssigned?.(tps);
    this.start();
    this.wakeLoop();
  }

  private async groupRevoked(tps: TopicPartition[]): Promise<void> {
    // Stop fetching and delivering them now; then wait until the application is between
    // messages, so the committed position covers only messages it has finished.
    for (const tp of tps) {
      const s = this.states.get(tpKey(tp.topic, tp.partition));
      if (s) { s.epoch++; s.revoked = true; }
    }
    if (this.busySince) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.g.maxPollIntervalMs);
        this.idleWaiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    if (this.g.autoCommit) {
      await this.commit(tps).catch((err: unknown) => this.log(`commit before releasing partitions failed: ${(err as Error).message}`));
    }
    this.dropPartitions(tps);
    this.g.onPartitionsRevoked?.(tps);
  }

  private dropPartitions(tps: TopicPartition[]): void {
    for (const tp of tps) {
      const k = tpKey(tp.topic, tp.partition);
      const s = this.states.get(k);
      if (s) s.epoch++;
      this.states.delete(k);
      this.committed.delete(k);
    }
  }

  /** The application is between messages: it asked for the next one or its handler returned. */
  private markIdle(): void {
    this.busySince = 0;
    for (const w of this.idleWaiters.splice(0)) w();
    this.group?.polled();
  }

  /**
   * Adds partitions to read: a topic name (all its partitions) or a list. New partitions
   * start per autoOffsetReset unless seek() is called before reading.
   */
  async assign(what: string | readonly TopicPartition[]): Promise<void> {
    if (this.closed) throw new ClientClosedError('consumer');
    if (this.group) throw new InvalidArgumentError('a consumer with a groupId gets its partitions from the group; assign() is not allowed');
    let tps: readonly TopicPartition[];
    if (typeof what === 'string') {
      const n = await this.meta.partitionCount(what);
      tps = Array.from({ length: n }, (_, partition) => ({ topic: what, partition }));
    } else {
      for (const t of new Set(what.map((x) => x.topic))) {
        const n = await this.meta.partitionCount(t);
        for (const tp of what) {
          if (tp.topic === t && (!Number.isInteger(tp.partition) || tp.partition < 0 || tp.partition >= n)) {
            throw new BrokerError(ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${t}' has no partition ${tp.partition} (it has ${n})`);
          }
        }
      }
      tps = what;
    }
    for (const { topic, partition } of tps) {
      const k = tpKey(topic, partition);
      if (this.states.has(k)) continue;
      this.states.set(k, {
        topic, partition, position: -1, fetchOffset: -1, epoch: 0, highWatermark: -1, logStartOffset: -1, retryAt: 0, skipBeforeTs: -1,
        reset: this.autoOffsetReset === 'latest' ? { kind: 'latest' } : { kind: 'earliest' },
      });
      if (this.autoOffsetReset === 'none') this.states.get(k)!.reset = null;
    }
    this.wakeLoop();
  }

  assignment(): TopicPartition[] {
    return [...this.states.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Sets where `tp` is read from next; drops what was already fetched for it. */
  seek(tp: TopicPartition, target: SeekTarget): void {
    const s = this.states.get(tpKey(tp.topic, tp.partition));
    if (!s) throw new InvalidArgumentError(`${tp.topic}/${tp.partition} is not assigned; call assign() first`);
    s.epoch++;
    s.skipBeforeTs = -1;
    if (typeof target === 'number') {
      if (!Number.isInteger(target) || target < 0) throw new InvalidArgumentError(`offset must be an integer >= 0, not ${target}`);
      s.reset = null;
      s.position = s.fetchOffset = target;
    } else if (target === 'earliest' || target === 'latest') {
      s.reset = { kind: target };
    } else if (target && typeof target === 'object' && 'timestamp' in target) {
      const ts = target.timestamp instanceof Date ? target.timestamp.getTime() : target.timestamp;
      if (!Number.isFinite(ts) || ts < 0) throw new InvalidArgumentError(`timestamp must be ms since epoch >= 0`);
      s.reset = { kind: 'time', ts };
    } else {
      throw new InvalidArgumentError(`seek target must be an offset, 'earliest', 'latest' or {timestamp}`);
    }
    s.retryAt = 0;
    this.wakeLoop();
  }

  /** Next offset the application will receive from `tp` (-1 while not yet known). */
  position(tp: TopicPartition): number {
    return this.states.get(tpKey(tp.topic, tp.partition))?.position ?? -1;
  }

  // --- fetch loop ------------------------------------------------------------------

  private start(): void {
    this.joinGroup();
    if (!this.loop) {
      this.loop = this.fetchLoop().catch((err) => this.fail(err as Error));
    }
  }

  private fail(err: Error): void {
    if (!this.failure && !this.closed) this.failure = err;
    this.wakeData();
  }

  private wakeLoop(): void {
    const w = this.loopWake;
    this.loopWake = null;
    w?.();
  }

  private wakeData(): void {
    const w = this.dataWake;
    this.dataWake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.loopWake = null; resolve(); }, ms);
      this.loopWake = () => { clearTimeout(t); resolve(); };
    });
  }

  private async fetchLoop(): Promise<void> {
    while (!this.closed && !this.failure) {
      const now = Date.now();
      const resets = [...this.states.values()].filter((s) => s.reset && !s.revoked && s.retryAt <= now);
      if (resets.length) await this.resolveResets(resets);
      if (this.closed) return;
      if (this.bufferedBytes >= this.maxBufferedBytes) {
        await new Promise<void>((resolve) => { this.loopWake = resolve; });
        continue;
      }
      const t = Date.now();
      const ready = [...this.states.values()].filter((s) => !s.reset && !s.revoked && s.fetchOffset >= 0 && s.retryAt <= t);
      if (ready.length === 0) {
        const unassignedNone = [...this.states.values()].find((s) => !s.reset && s.fetchOffset < 0);
        if (unassignedNone) {
          throw new SluiceError('NO_OFFSET', `${unassignedNone.topic}/${unassignedNone.partition} has no position and autoOffsetReset is 'none'; call seek()`);
        }
        const next = Math.min(...[...this.states.values()].map((s) => s.retryAt).filter((x) => x > t), t + 1000);
        await this.sleep(Math.max(1, next - t));
        continue;
      }
      await this.fetchOnce(ready);
    }
  }

  private async resolveResets(resets: PartitionState[]): Promise<void> {
    const epochs = resets.map((s) => s.epoch);
    const partitions = resets.map((s) => ({
      topic: s.topic, partition: s.partition,
      timestamp: s.reset!.kind === 'earliest' ? EARLIEST : s.reset!.kind === 'latest' ? LATEST : (s.reset as { ts: number }).ts,
    }));
    let res: ListOffsetsResponse;
    try {
      res = await this.conn.request<ListOffsetsResponse>(Api.ListOffsets, { partitions });
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) {
        for (const s of resets) s.retryAt = Date.now() + this.retryBackoffMs;
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
        s.retryAt = Date.now() + this.retryBackoffMs;
        continue;
      }
      if (s.reset!.kind === 'time') s.skipBeforeTs = s.reset!.ts;
      s.reset = null;
      s.position = s.fetchOffset = r.offset;
    }
  }

  private async fetchOnce(ready: PartitionState[]): Promise<void> {
    const epochs = ready.map((s) => s.epoch);
    const partitions = ready.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.fetchOffset, maxBytes: this.maxPartitionBytes }));
    let res: FetchResponse;
    try {
      res = await this.conn.request<FetchResponse>(
        Api.Fetch,
        { maxWaitMs: this.maxWaitMs, minBytes: this.minBytes, maxBytes: this.maxBytes, partitions },
        this.maxWaitMs + this.conn.requestTimeoutMs,
      );
    } catch (err) {
      if (this.closed) return;
      if (err instanceof SluiceError && err.retriable) {
        // Connection dropped or broker busy: the same offsets are fetched again later.
        await this.sleep(this.retryBackoffMs);
        return;
      }
      throw err;
    }
    let added = false;
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
      this.queue.push({ state: s, epoch: s.epoch, records: buf, minOffset: s.fetchOffset, highWatermark: s.highWatermark });
      this.bufferedBytes += buf.length;
      s.fetchOffset = next;
      added = true;
    }
    if (added) this.wakeData();
  }

  private onPartitionError(s: PartitionState, code: number, message: string, data?: Record<string, unknown>): void {
    const err = new BrokerError(code, `fetch ${s.topic}/${s.partition} at offset ${s.fetchOffset}: ${message}`, data);
    if (err.code === 'OFFSET_OUT_OF_RANGE') {
      const range = data && data.logStartOffset !== undefined ? ` (log holds ${data.logStartOffset}..${data.logEndOffset})` : '';
      if (this.autoOffsetReset === 'none') throw err;
      const what = s.committedStart && s.fetchOffset === s.position ? `committed offset ${s.fetchOffset} of group '${this.g.groupId}'` : 'offset ' + s.fetchOffset;
      this.log(`${what} of ${s.topic}/${s.partition} is out of range${range}; resetting to ${this.autoOffsetReset} (autoOffsetReset)`);
      s.epoch++;
      s.reset = { kind: this.autoOffsetReset };
      return;
    }
    if (!err.retriable) throw err;
    if (err.code === 'UNKNOWN_TOPIC_OR_PARTITION') this.meta.invalidate(s.topic);
    s.retryAt = Date.now() + this.retryBackoffMs;
  }

  // --- delivery --------------------------------------------------------------------

  /** Next chunk of decoded messages (non-empty), or null once closed. */
  private async nextBatch(): Promise<Batch | null> {
    this.start();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closed) return null;
      const c = this.queue.shift();
      if (!c) {
        await new Promise<void>((resolve) => { this.dataWake = resolve; });
        continue;
      }
      let records = c.records;
      const cut = wholeBatchesWithin(records, DELIVERY_BYTES);
      if (cut < records.length) {
        // A big fetch is decoded and delivered a piece at a time: the Message objects of
        // one delivery are all alive together, and a small live set keeps GC scavenges cheap.
        this.queue.unshift({ ...c, records: records.subarray(cut) });
        records = records.subarray(0, cut);
      }
      this.bufferedBytes -= records.length;
      if (this.bufferedBytes < this.maxBufferedBytes) this.wakeLoop();
      const s = c.state;
      if (c.epoch !== s.epoch) continue;
      let messages: Message[] = [];
      decodeMessages(records, s.topic, s.partition, Math.max(c.minOffset, s.position), messages);
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
      return { topic: s.topic, partition: s.partition, messages, highWatermark: c.highWatermark };
    }
  }

  /**
   * Calls `eachBatch` (or `eachMessage`) for everything read, one call at a time, until
   * close() or an error (which rejects). Positions advance after each batch (or message)
   * is handled, so a seek() from inside a handler takes effect from the next one.
   */
  async run(opts: RunOptions): Promise<void> {
    if (!opts.eachBatch && !opts.eachMessage) throw new InvalidArgumentError('run() needs eachBatch or eachMessage');
    for (;;) {
      const b = await this.nextBatch();
      if (!b) return;
      const s = this.states.get(tpKey(b.topic, b.partition))!;
      const epoch = s.epoch;
      this.busySince = Date.now();
      try {
        if (opts.eachBatch) {
          s.position = b.messages[b.messages.length - 1].offset + 1;
          await opts.eachBatch(b);
        } else {
          for (const m of b.messages) {
            if (s.epoch !== epoch || this.closed) break;
            s.position = m.offset + 1;
            this.busySince = Date.now();
            await opts.eachMessage!(m);
          }
        }
      } finally {
        this.markIdle();
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    let batch: Message[] = [];
    let i = 0;
    let state: PartitionState | null = null;
    let epoch = 0;
    const done: IteratorResult<Message> = { value: undefined, done: true };
    return {
      next: async (): Promise<IteratorResult<Message>> => {
        this.markIdle();
        for (;;) {
          if (this.closed) return done;
          if (i < batch.length && state!.epoch === epoch) {
            const m = batch[i++];
            state!.position = m.offset + 1;
            if (this.group) this.busySince = Date.now();
            return { value: m, done: false };
          }
          const b = await this.nextBatch();
          if (!b) return done;
          batch = b.messages;
          i = 0;
          state = this.states.get(tpKey(b.topic, b.partition))!;
          epoch = state.epoch;
        }
      },
      return: async (): Promise<IteratorResult<Message>> => {
        await this.close();
        return done;
      },
    };
  }

  /** Stops fetching and closes the connection; a pending `for await` ends. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.commitTimer);
    if (this.group) {
      // Commit what was delivered, then leave at once so the partitions move without waiting for the session timeout.
      if (this.g.autoCommit && this.group.active) await this.commit().catch((err: unknown) => this.log(`commit on close failed: ${(err as Error).message}`));
      await this.group.leave();
    }
    this.closed = true;
    this.wakeLoop();
    this.wakeData();
    await this.conn.close();
    await this.loop?.catch(() => {});
  }
}
