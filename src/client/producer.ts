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
 * Retriable failures (NETWORK_ERROR on a dropped connection, timeouts, a broker shutting
 * down, an unknown partition) resend the same encoded batch after a backoff.
 *
 * Idempotent by default (Kafka's enable.idempotence; idempotence.ts has the rules): the
 * producer takes a producer id (InitProducerId) before its first batch and numbers its
 * batches per partition, so the broker stores a retried batch whose answer was lost only
 * once, and retries go out in order (a later batch never overtakes an earlier one of its
 * partition): exactly once and in order per partition, as long as the producer lives.
 * With `idempotent: false` (or acks 0, which gets no answers to track) a batch whose
 * response was lost may be stored twice and a retried batch can land after a later one:
 * at-least-once, as in Kafka without idempotence.
 */
import { Api, type ProduceResponse } from '../protocol/api.js';
import { BrokerError, errorCode } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { IdempotentSequences } from './idempotence.js';
import { ClientClosedError, InvalidArgumentError } from './errors.js';
import { MetadataCache } from './metadata-cache.js';
import type { BrokerLimits } from '../protocol/broker-limits.js';
import {
  PendingSend, RecordAccumulator, PRODUCE_REQUEST_OVERHEAD, produceBatchOverhead, tooLarge, type BatchCap, type ProducerBatch,
} from './record-accumulator.js';
import type { Acks, ProducerMessage, SendResult } from './types.js';

export const DEFAULT_BROKER = 'ws://127.0.0.1:9400';
/** maxBatchBytes of a broker that announces no limits: the broker setting's default. */
const DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024;

export interface ProducerOptions extends ConnectionOptions {
  /** Broker URL (ws://host:port). `brokers[0]` is used when given instead. */
  url?: string;
  brokers?: string[];
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

export function brokerUrl(opts: { url?: string; brokers?: string[] }): string {
  return opts.url ?? opts.brokers?.[0] ?? DEFAULT_BROKER;
}

export class Producer {
  readonly conn: Connection;
  private readonly meta: MetadataCache;
  private readonly acc: RecordAccumulator;
  private readonly acks: 0 | 1 | -1;
  private readonly lingerMs: number;
  private readonly maxRequestBytes: number;
  private readonly maxInFlight: number;
  private readonly bufferBytes: number;
  private readonly retries: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly ownMaxBatchBytes: number | undefined;
  /** batchCap() per topic, for the limits it was computed from. */
  private caps = new Map<string, BatchCap>();
  private capsFor: BrokerLimits | undefined;

  private inFlight = 0;
  private retrying = 0;
  private lingerTimer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  /** Sequence numbers of the idempotent producer; null when not idempotent. */
  private readonly idem: IdempotentSequences | null;
  private readonly admit: ((b: ProducerBatch) => boolean) | undefined;
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
    this.admit = idem === null ? undefined : (b) => idem.admit(b);
    this.lingerMs = opts.lingerMs ?? 5;
    const batchBytes = opts.batchBytes ?? 1024 * 1024;
    this.maxRequestBytes = Math.max(opts.maxRequestBytes ?? 8 * 1024 * 1024, batchBytes);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 5);
    this.bufferBytes = opts.bufferBytes ?? 64 * 1024 * 1024;
    this.retries = opts.retries ?? 10;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 2000;
    const own = opts.maxBatchBytes;
    if (own !== undefined && (!Number.isInteger(own) || own < 1)) throw new InvalidArgumentError(`maxBatchBytes must be an integer >= 1, not ${String(own)}`);
    this.ownMaxBatchBytes = own;
    this.conn = new Connection(brokerUrl(opts), opts);
    this.meta = new MetadataCache(this.conn);
    this.acc = new RecordAccumulator(batchBytes);
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
    if (this.idem?.needsProducerId) {
      if (this.acc.ready.length > 0) this.initProducerId();
      return;
    }
    while (this.inFlight < this.maxInFlight && this.acc.ready.length > 0) {
      const l = this.conn.limits;
      const maxBytes = l ? Math.min(this.maxRequestBytes, l.maxFrameBytes - PRODUCE_REQUEST_OVERHEAD) : this.maxRequestBytes;
      const taken = this.acc.takeReady(maxBytes, this.admit);
      if (taken.length === 0) break; // every ready batch waits for one in flight (idempotence)
      const batches = this.refuseTooLarge(taken);
      if (batches.length === 0) continue;
      this.inFlight++;
      // sendRequest settles every batch itself; should it throw anyway (a bug), the sends still
      // waiting fail with that error instead of hanging behind an unhandled rejection (failing a
      // send that already settled is a no-op).
      void this.sendRequest(batches).catch((err: unknown) => {
        for (const b of batches) b.fail(err instanceof Error ? err : new Error(String(err)));
      }).finally(() => {
        this.inFlight--;
        this.pump();
        this.checkIdle();
      });
    }
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

  private async sendRequest(batches: ProducerBatch[]): Promise<void> {
    const partitions = batches.map((b) => ({ topic: b.topic, partition: b.partition, records: b.encoded! }));
    if (this.acks === 0) {
      try {
        await this.conn.sendOnly(Api.Produce, { acks: 0, partitions });
      } catch (err) {
        for (const b of batches) this.retryOrFail(b, err as Error);
        return;
      }
      for (const b of batches) this.done(b, -1);
      return;
    }
    let res: ProduceResponse;
    try {
      res = await this.conn.request(Api.Produce, { acks: this.acks, partitions });
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
    this.idem?.acked(b);
    this.acc.release(b);
    b.complete(baseOffset);
    this.wakeSpace();
  }

  private retryOrFail(b: ProducerBatch, err: Error): void {
    let retriable = err instanceof SluiceError && err.retriable && !(err instanceof ClientClosedError);
    const idem = this.idem;
    const code = err instanceof SluiceError ? err.code : undefined;
    if (idem !== null && (code === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || code === 'UNKNOWN_PRODUCER_ID' || code === 'INVALID_PRODUCER_EPOCH')) {
      const what = idem.refused(b, code);
      if (what === 'resequence' && !this.closedHard) {
        // Not stored: it goes out again under the new producer id (sendRequest's caller pumps).
        idem.resequence(b);
        this.acc.requeue(b);
        return;
      }
      retriable = what === 'retry';
    }
    if (retriable && b.attempts < this.retries && !this.closedHard) {
      b.attempts++;
      idem?.retrying(b);
      if ((err as SluiceError).code === 'UNKNOWN_TOPIC_OR_PARTITION') this.meta.invalidate(b.topic);
      const delay = Math.min(this.retryBackoffMaxMs, this.retryBackoffMs * 2 ** (b.attempts - 1));
      this.retrying++;
      setTimeout(() => {
        this.retrying--;
        this.acc.requeue(b); // ahead of its partition's later batches: order within a partition holds
        this.pump();
        this.checkIdle();
      }, delay * (0.8 + Math.random() * 0.4));
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
        const delay = Math.min(this.retryBackoffMaxMs, this.retryBackoffMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, delay * (0.8 + Math.random() * 0.4)));
      }
    }
  }

  private wakeSpace(): void {
    if (this.spaceWaiters.length && this.acc.bufferedBytes < this.bufferBytes) {
      const w = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const f of w) f();
    }
  }

  private get idle(): boolean {
    return this.inFlight === 0 && this.retrying === 0 && this.acc.ready.length === 0 && !this.acc.hasOpen;
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
      await this.conn.close();
    }
  }
}
