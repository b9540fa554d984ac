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
 * Retriable failures (NETWORK_ERROR on a dropped connection, timeouts, a broker shutting
 * down, an unknown partition) resend the same encoded batch after a backoff. With more
 * than one request in flight a retried batch can land after a later batch of the same
 * partition, and a batch whose response was lost may be stored twice: delivery is
 * at-least-once, as in Kafka without idempotence.
 */
import { Api, type ProduceResponse } from '../protocol/api.js';
import { BrokerError, errorCode } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { ClientClosedError, InvalidArgumentError } from './errors.js';
import { MetadataCache } from './metadata-cache.js';
import { PendingSend, RecordAccumulator, type ProducerBatch } from './record-accumulator.js';
import type { Acks, ProducerMessage, SendResult } from './types.js';

export const DEFAULT_BROKER = 'ws://127.0.0.1:9400';

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

  private inFlight = 0;
  private retrying = 0;
  private lingerTimer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(opts: ProducerOptions = {}) {
    const acks = opts.acks ?? 1;
    if (acks !== 0 && acks !== 1 && acks !== 'all' && acks !== -1) throw new InvalidArgumentError(`acks must be 0, 1 or 'all', not ${String(acks)}`);
    this.acks = acks === 'all' ? -1 : acks;
    this.lingerMs = opts.lingerMs ?? 5;
    const batchBytes = opts.batchBytes ?? 1024 * 1024;
    this.maxRequestBytes = Math.max(opts.maxRequestBytes ?? 8 * 1024 * 1024, batchBytes);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 5);
    this.bufferBytes = opts.bufferBytes ?? 64 * 1024 * 1024;
    this.retries = opts.retries ?? 10;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 2000;
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
      this.acc.append(topic, n, messages, ps); // throws (-> reject) before queuing anything
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

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.acc.ready.length > 0) {
      const batches = this.acc.takeReady(this.maxRequestBytes);
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
      res = await this.conn.request<ProduceResponse>(Api.Produce, { acks: this.acks, partitions });
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
    this.acc.release(b);
    b.complete(baseOffset);
    this.wakeSpace();
  }

  private retryOrFail(b: ProducerBatch, err: Error): void {
    const retriable = err instanceof SluiceError && err.retriable && !(err instanceof ClientClosedError);
    if (retriable && b.attempts < this.retries && !this.closedHard) {
      b.attempts++;
      if ((err as SluiceError).code === 'UNKNOWN_TOPIC_OR_PARTITION') this.meta.invalidate(b.topic);
      const delay = Math.min(this.retryBackoffMaxMs, this.retryBackoffMs * 2 ** (b.attempts - 1));
      this.retrying++;
      setTimeout(() => {
        this.retrying--;
        this.acc.ready.unshift(b); // ahead of later batches, to keep partition order where possible
        this.pump();
        this.checkIdle();
      }, delay * (0.8 + Math.random() * 0.4));
      return;
    }
    this.acc.release(b);
    b.fail(err);
    this.wakeSpace();
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
