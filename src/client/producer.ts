/**
 * Producer: batches messages per partition and sends them to the broker.
 *
 * Flow: send() appends to the RecordAccumulator (one open batch per partition). A batch
 * closes when it reaches `batchBytes`, or when `lingerMs` has passed since the first
 * unsent message; closed batches are encoded once (one RecordBatch each) and grouped into
 * Produce requests of up to `maxRequestBytes`, at most one batch per partition per
 * request so that order within a partition is the order of requests. At most
 * `maxInFlight` requests are outstanding; when `bufferBytes` of messages are waiting,
 * send() itself waits (back-pressure on the application instead of unbounded memory).
 *
 * Defaults: acks=1 (appended to the broker's log, not yet fsynced) because it is the
 * throughput setting and a broker crash loses at most what the OS had not flushed; use
 * acks='all' when an acknowledged message must survive a power cut. lingerMs=5,
 * batchBytes=1 MiB, maxInFlight=5, retries=10 with exponential backoff from 100 ms.
 *
 * Size limits: a batch must fit the broker's maxBatchBytes and, with the request around it,
 * its maxFrameBytes, both announced when the connection opens (protocol/broker-limits.ts),
 * and the producer's own maxBatchBytes if set. A message that cannot fit even alone is
 * refused at once with MESSAGE_TOO_LARGE naming the limit and its size; batches close
 * before they grow past the limit, and requests are grouped to fit the frame limit. Sent
 * anyway, the broker would close the connection (1009), failing every request in flight.
 *
 * Routing (client/broker-pool.ts): on a single broker every request goes to it. In a
 * cluster each batch goes to its partition's leader as Metadata names it, one request per
 * leader; a partition with no leader now (offline, or its leader's connection is down) waits,
 * with backoff and metadata refreshes, up to `deliveryTimeoutMs`.
 *
 * Retriable failures (NOT_LEADER_OR_FOLLOWER and the leader-epoch errors after a failover,
 * NOT_ENOUGH_REPLICAS, NETWORK_ERROR on a dropped connection, timeouts, a broker shutting
 * down, an unknown partition) resend the same encoded batch after a backoff, at most
 * `retries` times and within `deliveryTimeoutMs`; when the leader may have moved, metadata is
 * refreshed first (one refresh for all). Until a failed batch is resent, its partition sends
 * nothing new, and the batches that failed with it go back in their first order
 * (client/partition-hold.ts): a leader move does not reorder a partition.
 *
 * Delivery timeout: every send settles within `deliveryTimeoutMs` of its batch's creation,
 * wherever the batch waits: open or ready in the accumulator (behind a held partition, the
 * idempotence window, a producer id), held for a retry (PartitionHold, even when the metadata
 * refresh it waits for never settles), or in flight on a connection that never answers (a
 * request's own timeout does not cover the time it waits for a reconnect or for the socket to
 * drain). One timer per producer, armed for the oldest live batch's deadline, fails what is
 * past it with REQUEST_TIMED_OUT (Kafka's batch expiry). A batch that expires in flight
 * leaves its request: whatever answer comes later is ignored (it is not retried, and does not
 * complete the send a second time); it may still have been stored, as with any timeout, and
 * the idempotent producer treats it as failed (a gap: it resets its sequences).
 *
 * Idempotent by default (Kafka's enable.idempotence; idempotence.ts has the rules): the
 * producer takes a producer id (InitProducerId) before its first batch and numbers its
 * batches per partition, so the broker stores a retried batch whose answer was lost only
 * once, and retries go out in order (a later batch never overtakes an earlier one of its
 * partition): exactly once and in order per partition, as long as the producer lives.
 * With `idempotent: false` (or acks 0, which gets no answers to track) a batch whose
 * response was lost may be stored twice: at-least-once, as in Kafka without idempotence.
 */
import { Api, type ProduceResponse } from '../protocol/api.js';
import { BrokerError, errorCode } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import type { Connection } from './connection.js';
import { IdempotentSequences } from './idempotence.js';
import { ClientClosedError, InvalidArgumentError } from './errors.js';
import type { MetadataCache } from './metadata-cache.js';
import { bootstrapUrls } from './broker-list.js';
import { BrokerPool, NoLeaderError, needsRefresh, type ClientOptions } from './broker-pool.js';
import { PartitionHold } from './partition-hold.js';
import type { BrokerLimits } from '../protocol/broker-limits.js';
import {
  PendingSend, RecordAccumulator, PRODUCE_REQUEST_OVERHEAD, produceBatchOverhead, tooLarge, type BatchCap, type ProducerBatch,
} from './record-accumulator.js';
import type { Acks, ProducerMessage, SendResult } from './types.js';

export { DEFAULT_BROKER } from './broker-list.js';
/** maxBatchBytes of a broker that announces no limits: the broker setting's default. */
const DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024;

export interface ProducerOptions extends ClientOptions {
  /** 0: no response; 1: appended (default); 'all' / -1: appended and fsynced. */
  acks?: Acks;
  lingerMs?: number;
  batchBytes?: number;
  maxRequestBytes?: number;
  maxInFlight?: number;
  /** Bytes of unsent and unacknowledged messages above which send() waits. Default 64 MiB. */
  bufferBytes?: number;
  retries?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /**
   * How long a message may take from send() to its acknowledgement, retries and waits for a
   * partition leader included (Kafka's delivery.timeout.ms); past it, the send fails with
   * the last error. Default 120 s.
   */
  deliveryTimeoutMs?: number;
  /**
   * Largest record batch (one partition's records in one request) to send. Default: the
   * broker's maxBatchBytes as it announces it, or 16 MiB (the broker's default) when it
   * announces none; when set, the smaller of this and the broker's. A message too big for
   * it, or for the broker's maxFrameBytes, is refused at once with MESSAGE_TOO_LARGE.
   */
  maxBatchBytes?: number;
  /**
   * Number batches so that the broker stores each exactly once and in order despite retries
   * (see above). Default true, unless acks is 0; true with acks 0 is refused.
   */
  idempotent?: boolean;
}

/** One Produce request in flight, for the delivery timeout (Producer.expire). */
interface InFlightRequest {
  readonly batches: readonly ProducerBatch[];
  /** Its batches that expired while it was in flight (already settled in the hold). */
  readonly gone: Set<ProducerBatch>;
  /** Every batch expired: its maxInFlight slot was given back before it settled. */
  abandoned: boolean;
}

export class Producer {
  /** The home connection (client/broker-pool.ts). */
  readonly conn: Connection;
  private readonly pool: BrokerPool;
  private readonly meta: MetadataCache;
  /** Partitions whose retry is pending send nothing new (ordering after a leader move). */
  private readonly hold: PartitionHold<ProducerBatch>;
  /** Times a batch waited for a leader (its backoff; not counted as attempts). */
  private readonly leaderWaits = new WeakMap<ProducerBatch, number>();
  private readonly acc: RecordAccumulator;
  private readonly acks: 0 | 1 | -1;
  private readonly lingerMs: number;
  private readonly maxRequestBytes: number;
  private readonly maxInFlight: number;
  private readonly bufferBytes: number;
  private readonly retries: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly deliveryTimeoutMs: number;
  private readonly ownMaxBatchBytes: number | undefined;
  /** batchCap() per topic, for the limits it was computed from. */
  private caps = new Map<string, BatchCap>();
  private capsFor: BrokerLimits | undefined;

  private inFlight = 0;
  /**
   * Requests in flight (for the delivery timeout); a batch's own is `b.sentIn`. An array and a
   * field, not a Map keyed by batch: the producer's Map lives in the old generation, and young
   * batches added to it and deleted at the request rate made the scavenger promote them with
   * their messages (bench produce: client CPU per message +30-50 %, heap 3x; see the commit).
   * At most maxInFlight entries, plus requests whose batches all expired.
   */
  private readonly requests: InFlightRequest[] = [];
  /** The delivery-timeout check (expire()), armed for `expiryDue` while any batch is live. */
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryDue = Infinity;
  private lingerTimer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  /** Sequence numbers of the idempotent producer; null when not idempotent. */
  private readonly idem: IdempotentSequences | null;
  /** Whether a ready batch may go now: its partition is not held for a retry, and idempotence lets it. */
  private readonly admit: (b: ProducerBatch) => boolean;
  private initing: Promise<void> | null = null;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(opts: ProducerOptions = {}) {
    const acks = opts.acks ?? 1;
    if (acks !== 0 && acks !== 1 && acks !== 'all' && acks !== -1) throw new InvalidArgumentError(`acks must be 0, 1 or 'all', not ${String(acks)}`);
    this.acks = acks === 'all' ? -1 : acks;
    if (opts.idempotent === true && this.acks === 0) throw new InvalidArgumentError('idempotent needs acks 1 or all: with acks 0 the producer gets no answers to track');
    const idem = (opts.idempotent ?? this.acks !== 0) ? new IdempotentSequences() : null;
    this.idem = idem;
    this.lingerMs = opts.lingerMs ?? 5;
    const batchBytes = opts.batchBytes ?? 1024 * 1024;
    this.maxRequestBytes = Math.max(opts.maxRequestBytes ?? 8 * 1024 * 1024, batchBytes);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 5);
    this.bufferBytes = opts.bufferBytes ?? 64 * 1024 * 1024;
    this.retries = opts.retries ?? 10;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 2000;
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 120_000;
    const own = opts.maxBatchBytes;
    if (own !== undefined && (!Number.isInteger(own) || own < 1)) throw new InvalidArgumentError(`maxBatchBytes must be an integer >= 1, not ${String(own)}`);
    this.ownMaxBatchBytes = own;
    this.pool = new BrokerPool(bootstrapUrls(opts), opts, opts.connectionFactory);
    this.conn = this.pool.home;
    this.meta = this.pool.meta;
    this.hold = new PartitionHold((batches) => {
      for (const b of batches) this.acc.requeue(b); // in first-taken order, ahead of later batches of their partition
      this.pump();
      this.checkIdle();
    });
    this.acc = new RecordAccumulator(batchBytes);
    const muted = this.hold.muted;
    this.admit = idem === null ? (b) => !muted(b) : (b) => !muted(b) && idem.admit(b);
  }

  /** Connects to the broker; rejects with NETWORK_ERROR naming the URL when it is unreachable. */
  connect(): Promise<void> {
    return this.conn.connect();
  }

  /** Partition count of `topic` (cached); rejects with UNKNOWN_TOPIC_OR_PARTITION if it does not exist. */
  partitionCount(topic: string): Promise<number> {
    return this.meta.partitionCount(topic);
  }

  /**
   * Sends one message or an array of them to `topic`. Resolves once every message is
   * acknowledged (per `acks`) with where each was stored, in the order given.
   */
  send(topic: string, message: ProducerMessage): Promise<SendResult>;
  send(topic: string, messages: readonly ProducerMessage[]): Promise<SendResult[]>;
  async send(topic: string, messages: ProducerMessage | readonly ProducerMessage[]): Promise<SendResult | SendResult[]> {
    if (Array.isArray(messages)) return (await this.enqueue(topic, messages, true))!;
    const r = await this.enqueue(topic, [messages as ProducerMessage], true);
    return r![0];
  }

  /**
   * Fast path: like send() but resolves with nothing, so no result object is built per
   * message. Use it for bulk loads where only success or failure matters.
   */
  async sendBatch(topic: string, messages: readonly ProducerMessage[]): Promise<void> {
    await this.enqueue(topic, messages, false);
  }

  private async enqueue(topic: string, messages: readonly ProducerMessage[], wantResults: boolean): Promise<SendResult[] | null> {
    if (this.closed) throw new ClientClosedError('producer');
    if (typeof topic !== 'string' || topic.length === 0) throw new InvalidArgumentError('topic must be a non-empty string');
    if (messages.length === 0) return wantResults ? [] : null;
    const n = this.meta.cached(topic) ?? (await this.meta.partitionCount(topic));
    while (this.acc.bufferedBytes >= this.bufferBytes) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      if (this.closed) throw new ClientClosedError('producer');
    }
    return new Promise<SendResult[] | null>((resolve, reject) => {
      const results = wantResults ? new Array<SendResult>(messages.length) : null;
      const ps = new PendingSend(messages.length, results, () => resolve(results), reject);
      this.acc.append(topic, n, messages, ps, this.batchCap(topic)); // throws (-> reject) before queuing anything
      if (this.expiryTimer === null) this.armExpiry(Date.now() + this.deliveryTimeoutMs);
      if (this.acc.ready.length > 0) this.pump();
      if (this.lingerTimer === null && this.acc.hasOpen) {
        const linger = () => {
          this.lingerTimer = null;
          this.acc.closeAll();
          this.pump();
        };
        // lingerMs 0 sends once this turn of the event loop is done (sends made in the same
        // turn still share a batch): setTimeout(0) waits >= 1 ms, which added ~1 ms to
        // every message's end-to-end latency.
        this.lingerTimer = this.lingerMs === 0 ? setImmediate(linger) : setTimeout(linger, this.lingerMs);
      }
    });
  }

  /**
   * The largest batch of `topic` that may go out now: the smallest of the broker's
   * maxBatchBytes, what its maxFrameBytes leaves for one batch, and our own maxBatchBytes.
   */
  private batchCap(topic: string): BatchCap {
    const l = this.conn.limits;
    if (l !== this.capsFor) {
      this.caps.clear();
      this.capsFor = l;
    }
    let cap = this.caps.get(topic);
    if (cap) return cap;
    const own = this.ownMaxBatchBytes;
    const broker = l ? l.maxBatchBytes : own === undefined ? DEFAULT_MAX_BATCH_BYTES : Infinity;
    if (own !== undefined && own <= broker) cap = { bytes: own, limit: 'maxBatchBytes', limitBytes: own, text: `the producer's maxBatchBytes ${own}` };
    else cap = { bytes: broker, limit: 'maxBatchBytes', limitBytes: broker, text: `${l ? "the broker's" : 'the default'} maxBatchBytes ${broker}` };
    if (l) {
      const room = l.maxFrameBytes - PRODUCE_REQUEST_OVERHEAD - produceBatchOverhead(topic);
      if (room < cap.bytes) {
        cap = { bytes: room, limit: 'maxFrameBytes', limitBytes: l.maxFrameBytes, text: `the broker's maxFrameBytes ${l.maxFrameBytes} leaves for one batch of topic '${topic}' (${room})` };
      }
    }
    this.caps.set(topic, cap);
    return cap;
  }

  private pump(): void {
    // A reset bumps the epoch here (idempotence.ts); a producer id is asked for only at the first send or when the epoch is spent.
    if (this.idem?.needsProducerId && !this.idem.bumpEpoch()) {
      if (this.acc.ready.length > 0) this.initProducerId();
      return;
    }
    while (this.inFlight < this.maxInFlight && this.acc.ready.length > 0) {
      const l = this.conn.limits;
      const maxBytes = l ? Math.min(this.maxRequestBytes, l.maxFrameBytes - PRODUCE_REQUEST_OVERHEAD) : this.maxRequestBytes;
      const taken = this.acc.takeReady(maxBytes, this.admit);
      if (taken.length === 0) break; // every ready batch waits: for its partition's retry, or for one in flight (idempotence)
      const batches = this.refuseTooLarge(taken);
      if (batches.length === 0) continue;
      if (!this.meta.clustered) {
        this.dispatch(batches, this.conn);
        continue;
      }
      // Cluster: one request per leader; a batch whose partition has no leader now is held.
      for (const [conn, g] of this.pool.byLeader(batches, (b, err) => { this.waitForLeader(b, err); })) this.dispatch(g.items, conn);
    }
  }

  private dispatch(batches: ProducerBatch[], conn: Connection): void {
    this.inFlight++;
    const req: InFlightRequest = { batches, gone: new Set(), abandoned: false };
    this.requests.push(req);
    for (const b of batches) {
      this.hold.sent(b);
      b.sentIn = req;
    }
    // sendRequest settles every batch itself; should it throw anyway (a bug), the sends still
    // waiting fail with that error instead of hanging behind an unhandled rejection (failing a
    // send that already settled is a no-op).
    void this.sendRequest(batches, conn).catch((err: unknown) => {
      for (const b of batches) b.fail(err instanceof Error ? err : new Error(String(err)));
    }).finally(() => {
      if (!req.abandoned) this.inFlight--;
      this.requests.splice(this.requests.indexOf(req), 1);
      for (const b of batches) {
        if (b.sentIn === req) b.sentIn = null; // else a retry sent it again meanwhile
        if (!req.gone.has(b)) this.hold.settled(b); // an expired batch was settled when it expired
      }
      this.pump();
      this.checkIdle();
    });
  }

  /**
   * Holds a batch whose partition has no reachable leader now (offline, or its leader's
   * connection is down) until metadata is refreshed and a backoff passed; no attempt is
   * counted, but the delivery timeout runs.
   */
  private waitForLeader(b: ProducerBatch, err: NoLeaderError): void {
    if (this.closedHard || Date.now() - b.createdAt >= this.deliveryTimeoutMs) {
      this.acc.release(b);
      b.fail(new SluiceError('REQUEST_TIMED_OUT', `no leader for ${err.message} within the delivery timeout of ${this.deliveryTimeoutMs} ms`, { cause: err }));
      this.wakeSpace();
      this.checkIdle();
      return;
    }
    b.lastError = err;
    const waits = (this.leaderWaits.get(b) ?? 0) + 1;
    this.leaderWaits.set(b, waits);
    this.hold.hold(b, this.retryDelay(waits), this.meta.refresh([b.topic]).catch(() => undefined));
  }

  /**
   * The wait before retry number `attempt` (1, 2, ...): retryBackoffMs doubling per attempt up
   * to retryBackoffMaxMs, with ±20% jitter so producers refused together do not retry in step.
   */
  private retryDelay(attempt: number): number {
    const delay = Math.min(this.retryBackoffMaxMs, this.retryBackoffMs * 2 ** Math.min(attempt - 1, 30));
    return delay * (0.8 + Math.random() * 0.4);
  }

  /**
   * Fails the encoded batches that are over their cap (the size estimate let them through:
   * headers, multi-byte text) instead of sending them; returns the others.
   */
  private refuseTooLarge(batches: ProducerBatch[]): ProducerBatch[] {
    let out: ProducerBatch[] | undefined;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i];
      const cap = this.batchCap(b.topic);
      if (b.bytes <= cap.bytes) {
        out?.push(b);
        continue;
      }
      out ??= batches.slice(0, i);
      this.idem?.withdraw(b);
      this.acc.release(b);
      b.fail(tooLarge(`a batch of ${b.records.length} message(s) to ${b.topic}/${b.partition}`, b.bytes, cap));
      this.wakeSpace();
    }
    if (out) this.checkIdle();
    return out ?? batches;
  }

  private async sendRequest(batches: ProducerBatch[], conn: Connection): Promise<void> {
    const partitions = batches.map((b) => ({ topic: b.topic, partition: b.partition, records: b.encoded! }));
    if (this.acks === 0) {
      try {
        await conn.sendOnly(Api.Produce, { acks: 0, partitions });
      } catch (err) {
        for (const b of batches) this.retryOrFail(b, err as Error);
        return;
      }
      for (const b of batches) this.done(b, -1);
      return;
    }
    let res: ProduceResponse;
    try {
      res = await conn.request(Api.Produce, { acks: this.acks, partitions });
    } catch (err) {
      for (const b of batches) this.retryOrFail(b, err as Error);
      return;
    }
    const results = res.partitions ?? [];
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i];
      let r = results[i];
      if (!r || r.topic !== b.topic || r.partition !== b.partition) r = results.find((x) => x.topic === b.topic && x.partition === b.partition)!;
      if (!r) {
        this.retryOrFail(b, new BrokerError(errorCode('UNKNOWN_SERVER_ERROR'), `the broker did not answer for ${b.topic}/${b.partition}`));
      } else if (r.error && r.error.code !== 0) {
        this.retryOrFail(b, new BrokerError(r.error.code, `produce to ${b.topic}/${b.partition}: ${r.error.message}`, r.error.data));
      } else {
        this.done(b, r.baseOffset ?? -1);
      }
    }
  }

  private done(b: ProducerBatch, baseOffset: number): void {
    if (b.expired) return; // failed by the delivery timeout while in flight; this answer is too late
    this.idem?.acked(b);
    this.acc.release(b);
    b.complete(baseOffset);
    this.wakeSpace();
  }

  private retryOrFail(b: ProducerBatch, err: Error): void {
    if (b.expired) return; // failed by the delivery timeout while in flight: never retried
    let retriable = err instanceof SluiceError && err.retriable && !(err instanceof ClientClosedError);
    const idem = this.idem;
    const code = err instanceof SluiceError ? err.code : undefined;
    if (idem !== null && (code === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || code === 'UNKNOWN_PRODUCER_ID' || code === 'INVALID_PRODUCER_EPOCH')) {
      const what = idem.refused(b, code);
      if (what === 'resequence' && !this.closedHard) {
        // Not stored: it goes out again under the next epoch (sendRequest's caller pumps).
        idem.resequence(b);
        this.acc.requeue(b);
        return;
      }
      retriable = what === 'retry';
    }
    if (retriable && b.attempts < this.retries && !this.closedHard && Date.now() - b.createdAt < this.deliveryTimeoutMs) {
      b.attempts++;
      b.lastError = err;
      idem?.retrying(b);
      // A leader that moved (or, in a cluster, a dropped connection) is looked up again
      // before the retry; the refresh is shared by every batch that failed meanwhile.
      let refreshed: Promise<unknown> | undefined;
      if (needsRefresh(err, this.meta.clustered)) refreshed = this.meta.refresh([b.topic]).catch(() => undefined);
      else if (code === 'UNKNOWN_TOPIC_OR_PARTITION') this.meta.invalidate(b.topic);
      this.hold.hold(b, this.retryDelay(b.attempts), refreshed);
      return;
    }
    idem?.failed(b);
    this.acc.release(b);
    b.fail(err);
    this.wakeSpace();
  }

  /**
   * Takes a producer id (first use, or a reset after a gap), retried like a produce; pumps
   * again once it has one. When it cannot get one, the batches waiting to be sent fail with
   * the reason.
   */
  private initProducerId(): void {
    if (this.initing !== null) return;
    this.initing = this.fetchProducerId().catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const b of this.acc.ready.splice(0)) {
        this.acc.release(b);
        b.fail(e);
      }
      this.wakeSpace();
    }).finally(() => {
      this.initing = null;
      this.pump();
      this.checkIdle();
    });
  }

  private async fetchProducerId(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.conn.request(Api.InitProducerId, {});
        this.idem!.start(r.producerId, r.producerEpoch);
        return;
      } catch (err) {
        const code = err instanceof SluiceError ? err.code : undefined;
        if (code === 'UNKNOWN_API' || code === 'UNSUPPORTED_VERSION') {
          throw new BrokerError(errorCode(code), `the broker does not hand out producer ids (InitProducerId): it predates idempotent producers; pass idempotent: false to send without (${(err as Error).message})`);
        }
        const retriable = err instanceof SluiceError && err.retriable && !(err instanceof ClientClosedError);
        if (!retriable || attempt > this.retries || this.closedHard) throw err;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelay(attempt)));
      }
    }
  }

  /** Arms the delivery-timeout check for `at` (ms since epoch) unless it is armed sooner. */
  private armExpiry(at: number): void {
    if (this.expiryTimer !== null) {
      if (this.expiryDue <= at) return;
      clearTimeout(this.expiryTimer);
    }
    this.expiryDue = at;
    // +1: a timer may fire up to a millisecond early, and the batch must be past its deadline then.
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(1, at - Date.now() + 1));
  }

  /**
   * Fails every batch created more than deliveryTimeoutMs ago with REQUEST_TIMED_OUT, wherever
   * it waits (open, ready, held, in flight), then re-arms for the oldest batch left. O(live
   * batches) per run, and it runs about once per deliveryTimeoutMs while sends are answered.
   */
  private expire(): void {
    this.expiryTimer = null;
    this.expiryDue = Infinity;
    const cutoff = Date.now() - this.deliveryTimeoutMs;
    const { expired, oldest: o } = this.acc.removeExpired(cutoff);
    let oldest = o;
    for (const b of this.hold.expire((x) => x.createdAt <= cutoff)) expired.push(b);
    this.hold.forEachHeld((b) => { if (b.createdAt < oldest) oldest = b.createdAt; });
    const late: ProducerBatch[] = [];
    for (const req of this.requests) for (const b of req.batches) {
      if (b.sentIn !== req) continue; // expired already, or in flight again in a later request
      if (b.createdAt > cutoff) {
        if (b.createdAt < oldest) oldest = b.createdAt;
        continue;
      }
      late.push(b);
      b.sentIn = null;
      b.expired = true; // before settled(): a hold it ends must not hand it back
      req.gone.add(b);
      if (req.gone.size === req.batches.length && !req.abandoned) {
        req.abandoned = true;
        this.inFlight--;
      }
    }
    for (const b of expired) b.expired = true;
    for (const b of late) expired.push(b);
    for (const b of expired) {
      const n = b.records.length;
      this.idem?.failed(b);
      this.acc.release(b);
      b.fail(new SluiceError('REQUEST_TIMED_OUT', `${n} message(s) to ${b.topic}/${b.partition} not acknowledged within the delivery timeout of ${this.deliveryTimeoutMs} ms (attempts: ${b.attempts + 1}${b.lastError ? `; last: ${b.lastError.message}` : ''})`, b.lastError ? { cause: b.lastError } : undefined));
    }
    // Partitions the expired in-flight batches held may be released now (after they failed,
    // so that the release cannot hand back a batch of theirs).
    for (const b of late) this.hold.settled(b);
    if (expired.length > 0) {
      this.wakeSpace();
      this.pump();
      this.checkIdle();
    }
    for (const req of this.requests) for (const b of req.batches) if (b.sentIn === req && b.createdAt < oldest) oldest = b.createdAt;
    if (oldest !== Infinity) this.armExpiry(oldest + this.deliveryTimeoutMs);
    else if (this.acc.hasOpen || this.acc.ready.length > 0) this.armExpiry(Date.now() + this.deliveryTimeoutMs);
  }

  private wakeSpace(): void {
    if (this.spaceWaiters.length && this.acc.bufferedBytes < this.bufferBytes) {
      const w = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const f of w) f();
    }
  }

  private get idle(): boolean {
    return this.inFlight === 0 && this.hold.size === 0 && this.acc.ready.length === 0 && !this.acc.hasOpen;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length && this.idle) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Sends everything buffered now (ignoring linger) and resolves when all of it is settled. */
  async flush(): Promise<void> {
    if (this.lingerTimer) {
      if (this.lingerMs === 0) clearImmediate(this.lingerTimer as NodeJS.Immediate);
      else clearTimeout(this.lingerTimer as NodeJS.Timeout);
      this.lingerTimer = null;
    }
    this.acc.closeAll();
    this.pump();
    if (this.idle) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private closedHard = false;

  /** Flushes, then closes the connection. Sends after close() reject with CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      this.closedHard = true;
      for (const f of this.spaceWaiters) f();
      this.spaceWaiters = [];
      await this.pool.close();
      if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
    }
  }
}
