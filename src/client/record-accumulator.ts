/**
 * Collects produced messages into one open batch per partition until the batch is full
 * (`batchBytes`) or the producer drains it (linger passed, flush). No network here, so
 * the batching rules are unit-testable.
 *
 * Messages are kept by reference (the caller's objects are RecordInput-shaped), and a
 * batch is encoded once, when it closes. Which caller waits for which records is kept as
 * "runs": a contiguous slice of one send() call's messages stored contiguously in one
 * batch. A keyless send() of 10,000 messages is one run per batch, not 10,000 entries.
 */
import { encodeBatch, type RecordInput } from '../record/index.js';
import { InvalidArgumentError, MessageTooLargeError } from './errors.js';
import { partitionForKey, StickyPartitioner } from './partitioner.js';
import type { ProducerMessage, SendResult } from './types.js';
import { tpKey } from '../protocol/topic-partition.js';
import { wantsDeliverAt, withDeliverAt } from './deliver-at.js';

/** One send() call waiting for its messages. `results` is null when the caller wants no per-message results. */
export class PendingSend {
  failed = false;
  constructor(
    public remaining: number,
    readonly results: SendResult[] | null,
    readonly resolve: () => void,
    readonly reject: (e: Error) => void,
  ) {}

  fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(err);
  }
}

export interface Run {
  send: PendingSend;
  /** Index of the run's first message in the send() call. */
  callIdx: number;
  /** Index of the run's first record in the batch. */
  batchPos: number;
  count: number;
}

let batchesMade = 0;

export class ProducerBatch {
  readonly records: RecordInput[] = [];
  readonly runs: Run[] = [];
  bytes = 0;
  encoded: Buffer | null = null;
  attempts = 0;
  /** Creation order across the producer: a partition's batches must reach the broker in this order. */
  readonly order = batchesMade++;
  /** Idempotent producer (idempotence.ts): the header fields, -1 until the batch is first admitted. */
  producerId = -1;
  producerEpoch = -1;
  baseSequence = -1;
  /** Sent and not yet answered. */
  inFlight = false;
  /**
   * Failed by the producer's delivery timeout (client/producer.ts expire()) while it waited
   * somewhere; whatever answer comes later for it is ignored (no retry, no second outcome).
   */
  expired = false;
  /** Why it last waited (a retriable error, no leader): named by the delivery-timeout error. */
  lastError: Error | undefined;
  /** The producer's record of the request it is in flight in (for the delivery timeout), or null. */
  sentIn: object | null = null;
  constructor(readonly topic: string, readonly partition: number, readonly createdAt: number) {}

  /** Encodes the records into one RecordBatch (once; retries resend the same bytes, sequence included). */
  encode(): Buffer {
    if (!this.encoded) {
      this.encoded = this.producerId < 0
        ? encodeBatch(this.records)
        : encodeBatch(this.records, { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: this.baseSequence });
      this.bytes = this.encoded.length;
    }
    return this.encoded;
  }

  /** Marks every message of the batch done, stored from `baseOffset` on (-1: unknown, acks=0). */
  complete(baseOffset: number): void {
    for (const run of this.runs) {
      const s = run.send;
      if (s.failed) continue;
      if (s.results) {
        for (let k = 0; k < run.count; k++) {
          s.results[run.callIdx + k] = {
            topic: this.topic,
            partition: this.partition,
            offset: baseOffset < 0 ? -1 : baseOffset + run.batchPos + k,
          };
        }
      }
      s.remaining -= run.count;
      if (s.remaining === 0) s.resolve();
    }
    this.records.length = 0;
    this.encoded = null;
  }

  fail(err: Error): void {
    for (const run of this.runs) run.send.fail(err);
    this.records.length = 0;
    this.encoded = null;
  }
}

// Per-record overhead estimate (length, attributes, deltas, key/value lengths, header count)
// used to decide when a batch is full before it is encoded.
const RECORD_OVERHEAD = 12;
const BATCH_OVERHEAD = 61;

/** Bytes of a Produce frame besides its record batches: the request's own fields, then per batch its topic and partition. */
export const PRODUCE_REQUEST_OVERHEAD = 64;
export const produceBatchOverhead = (topic: string): number => 48 + topic.length;

/**
 * The largest encoded batch that may go out, and the limit that sets it (for the error a
 * message that cannot fit gets): the broker's maxBatchBytes, the room its maxFrameBytes
 * leaves for one batch, or the producer's own maxBatchBytes.
 */
export interface BatchCap {
  bytes: number;
  /** The setting: 'maxBatchBytes' or 'maxFrameBytes'. */
  limit: string;
  limitBytes: number;
  /** The limit in words, e.g. "the broker's maxFrameBytes 65536 (65,422 bytes for one batch of topic 't')". */
  text: string;
}

/** The error for `what` of `size` bytes that cannot fit `cap`. */
export function tooLarge(what: string, size: number, cap: BatchCap): MessageTooLargeError {
  return new MessageTooLargeError(`${what} is ${size} bytes as a record batch, more than ${cap.text}`, cap.limit, cap.limitBytes, size);
}

function sizeOf(b: Uint8Array | string | null | undefined): number {
  if (b == null) return 0;
  // A string's UTF-16 length underestimates multi-byte text; fine for a fill threshold.
  return b.length;
}

export class RecordAccumulator {
  private readonly open = new Map<string, { parts: (ProducerBatch | undefined)[]; n: number }>(); // topic -> open batch by partition (undefined: none open)
  /** Closed batches in the order they closed. */
  readonly ready: ProducerBatch[] = [];
  /** Bytes held in open and ready batches (estimates before encoding). */
  bufferedBytes = 0;

  constructor(
    private readonly batchBytes: number,
    readonly partitioner = new StickyPartitioner(),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Adds `messages` of one send() to their partitions' open batches; batches that fill
   * up (at batchBytes, or short of `cap`) move to `ready`. Validates before adding anything,
   * so a bad message fails the call without half of it being queued: a message that cannot
   * fit `cap` even alone is refused here with MESSAGE_TOO_LARGE (by its key and value size;
   * headers and multi-byte text are caught when the batch is encoded).
   */
  append(topic: string, numPartitions: number, messages: readonly ProducerMessage[], send: PendingSend, cap?: BatchCap): void {
    const maxPayload = cap ? cap.bytes - BATCH_OVERHEAD - RECORD_OVERHEAD : Infinity;
    let withTimes: ProducerMessage[] | undefined; // a copy, made only when a message asks for a delivery time
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (m === null || typeof m !== 'object') throw new InvalidArgumentError(`message ${i} is not an object`);
      if (wantsDeliverAt(m)) (withTimes ??= messages.slice())[i] = withDeliverAt(m, i, this.now());
      const v = m.value;
      if (v !== null && typeof v !== 'string' && !(v instanceof Uint8Array)) {
        throw new InvalidArgumentError(`message ${i}: value must be a Buffer, Uint8Array, string or null`);
      }
      if (maxPayload !== Infinity && sizeOf(v) + sizeOf(m.key) > maxPayload) {
        throw tooLarge(`message ${i}`, BATCH_OVERHEAD + RECORD_OVERHEAD + sizeOf(v) + sizeOf(m.key), cap!);
      }
      const p = m.partition;
      if (p !== undefined && (!Number.isInteger(p) || p < 0 || p >= numPartitions)) {
        throw new InvalidArgumentError(`message ${i}: partition ${p} is not in 0..${numPartitions - 1} of topic '${topic}'`);
      }
    }
    if (withTimes) messages = withTimes;
    let t = this.open.get(topic);
    if (!t) {
      t = { parts: [], n: numPartitions };
      this.open.set(topic, t);
    }
    t.n = numPartitions;
    const parts = t.parts;
    // A batch closes before it could pass the cap, with room for the size estimate's error
    // (an eighth), so that a full batch is not refused with messages that fit on their own.
    const fill = cap ? Math.min(this.batchBytes, cap.bytes - (cap.bytes >> 3)) : this.batchBytes;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      const keyless = m.partition === undefined && m.key == null;
      const p = m.partition ?? (m.key != null ? partitionForKey(m.key, numPartitions) : this.partitioner.current(topic, numPartitions));
      let size = RECORD_OVERHEAD + sizeOf(m.value) + sizeOf(m.key);
      if (m.headers) for (const h of m.headers) size += 4 + h.key.length + sizeOf(h.value);
      let b: ProducerBatch | undefined = parts[p];
      if (b && b.records.length > 0 && b.bytes + size > fill) {
        this.close(parts, p, numPartitions);
        b = undefined;
        if (keyless) {
          // the sticky partition moved on when that batch closed
          i--;
          continue;
        }
      }
      if (!b) {
        b = new ProducerBatch(topic, p, this.now());
        b.bytes = BATCH_OVERHEAD;
        parts[p] = b;
        this.bufferedBytes += BATCH_OVERHEAD;
      }
      const pos = b.records.length;
      b.records.push(m);
      b.bytes += size;
      this.bufferedBytes += size;
      const last = b.runs.length ? b.runs[b.runs.length - 1] : undefined;
      if (last && last.send === send && last.callIdx + last.count === i && last.batchPos + last.count === pos) last.count++;
      else b.runs.push({ send, callIdx: i, batchPos: pos, count: 1 });
    }
  }

  /** Closes the open batch of partition `p`, if there is one. */
  private close(parts: (ProducerBatch | undefined)[], p: number, numPartitions: number): void {
    const b = parts[p];
    if (!b) return;
    parts[p] = undefined;
    this.ready.push(b);
    this.partitioner.batchClosed(b.topic, p, numPartitions);
  }

  /** Closes every open batch (linger passed or flush) so that `ready` holds everything. */
  closeAll(): void {
    for (const { parts, n } of this.open.values()) {
      for (let p = 0; p < parts.length; p++) {
        if (parts[p]?.records.length) this.close(parts, p, n);
      }
    }
  }

  /** Whether any open batch holds records. */
  get hasOpen(): boolean {
    for (const { parts } of this.open.values()) for (const b of parts) if (b && b.records.length) return true;
    return false;
  }

  /**
   * Removes ready batches for one request, encoded: up to `maxBytes` (at least one batch;
   * each batch counts with its produceBatchOverhead, so that `maxBytes` bounds the frame)
   * and at most one batch per partition, so a partition's batches go out in order, one
   * request after another. Batches left behind keep their order. `admit` may hold a batch
   * back, and with it the later ones of its partition (a partition whose retry is pending:
   * client/partition-hold.ts; the idempotent producer's window: idempotence.ts); it is asked
   * in ready order, before the batch is encoded.
   */
  takeReady(maxBytes: number, admit?: (b: ProducerBatch) => boolean): ProducerBatch[] {
    const out: ProducerBatch[] = [];
    const seen = new Set<string>();
    let bytes = 0;
    let keep = 0;
    const ready = this.ready;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i];
      const tp = tpKey(b.topic, b.partition);
      // A batch left behind holds back the later ones of its partition (seen), so none overtakes it.
      if (seen.has(tp) || (out.length > 0 && bytes + b.bytes + produceBatchOverhead(b.topic) > maxBytes) || (admit !== undefined && !admit(b))) {
        seen.add(tp);
        ready[keep++] = b;
        continue;
      }
      seen.add(tp);
      const before = b.bytes;
      b.encode();
      this.bufferedBytes += b.bytes - before;
      bytes += b.bytes + produceBatchOverhead(b.topic);
      out.push(b);
    }
    ready.length = keep;
    return out;
  }

  /**
   * Puts a batch back among the ready ones (a retry), after the earlier and before the later
   * batches of its partition, and ahead of other partitions' batches otherwise.
   */
  requeue(b: ProducerBatch): void {
    const ready = this.ready;
    let at = 0;
    for (let i = 0; i < ready.length; i++) {
      const r = ready[i];
      if (r.topic !== b.topic || r.partition !== b.partition) continue;
      if (r.order > b.order) break;
      at = i + 1;
    }
    ready.splice(at, 0, b);
  }

  /**
   * Removes and returns the open and ready batches created at or before `cutoff` (ms since
   * epoch), for the delivery timeout; the others keep their order. `oldest` gets the creation
   * time of the oldest batch left (Infinity when none), for the next expiry check.
   */
  removeExpired(cutoff: number): { expired: ProducerBatch[]; oldest: number } {
    const expired: ProducerBatch[] = [];
    let oldest = Infinity;
    for (const { parts } of this.open.values()) {
      for (let p = 0; p < parts.length; p++) {
        const b = parts[p];
        if (!b || b.records.length === 0) continue;
        if (b.createdAt <= cutoff) {
          parts[p] = undefined;
          expired.push(b);
        } else if (b.createdAt < oldest) oldest = b.createdAt;
      }
    }
    const ready = this.ready;
    let keep = 0;
    for (let i = 0; i < ready.length; i++) {
      const b = ready[i];
      if (b.createdAt <= cutoff) expired.push(b);
      else {
        if (b.createdAt < oldest) oldest = b.createdAt;
        ready[keep++] = b;
      }
    }
    ready.length = keep;
    return { expired, oldest };
  }

  /** Called when a batch leaves the producer for good (acknowledged or failed). */
  release(b: ProducerBatch): void {
    this.bufferedBytes -= b.bytes;
  }
}
