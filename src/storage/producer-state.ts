/**
 * What a partition remembers about idempotent producers (Kafka's ProducerStateManager,
 * KIP-98): per producer id, its epoch and the sequence numbers and offsets of its last five
 * batches. A producer numbers its batches; a retry after a lost answer or a leader failover
 * resends a batch with the same numbers, and the partition answers it with the offsets it
 * stored the first time instead of storing it twice. Five is the most batches an idempotent
 * producer may have in flight per partition (Kafka's max.in.flight.requests.per.connection),
 * so any retry it can send is still remembered.
 *
 * The rules, checked on the leader before an append (`check`), in the order of the log:
 * - an epoch older than the stored one is refused (INVALID_PRODUCER_EPOCH): a newer session of
 *   that producer id exists, and the older one must not write any more;
 * - a newer epoch starts a new sequence, at 0;
 * - within an epoch, a batch with the first and last sequence of a remembered batch is a
 *   duplicate; otherwise its first sequence must follow the last stored one (OUT_OF_ORDER_
 *   SEQUENCE_NUMBER otherwise: a batch before it was lost, and storing it would leave a gap);
 * - an unknown producer id must start at sequence 0 (UNKNOWN_PRODUCER_ID otherwise: its state
 *   expired or was cut away with the log, and the producer must start a new sequence).
 * Followers `record` what the leader stored without checking: the leader decided.
 *
 * Sequences are int32 and wrap from 2^31-1 to 0, as in Kafka.
 */
import { IDEMPOTENT_WINDOW } from '../record/index.js';
import { InvalidProducerEpochError, OutOfOrderSequenceError, UnknownProducerIdError } from './errors.js';

export const PRODUCER_BATCHES_KEPT = IDEMPOTENT_WINDOW;
const MAX_SEQUENCE = 0x7fffffff;

/** The producer fields of a batch header, and its last sequence (base + last offset delta, wrapped). */
export interface ProducerBatch {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  lastSequence: number;
}

interface BatchMeta {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
}

interface ProducerEntry {
  epoch: number;
  /** Oldest first, at most PRODUCER_BATCHES_KEPT. */
  batches: BatchMeta[];
  /** Wall-clock ms of the last batch, for expiry of idle producer ids. */
  lastTimestamp: number;
}

export type SequenceCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; firstOffset: number; lastOffset: number };

/** The last sequence of a batch that starts at `baseSequence` and holds `recordCount` records. */
export function lastSequenceOf(baseSequence: number, recordCount: number): number {
  const last = baseSequence + recordCount - 1;
  return last > MAX_SEQUENCE ? last - MAX_SEQUENCE - 1 : last;
}

export function nextSequence(seq: number): number {
  return seq === MAX_SEQUENCE ? 0 : seq + 1;
}

export interface ProducerStateSnapshot {
  version: 1;
  /** The log end offset the snapshot describes: batches at and after it are replayed on top. */
  offset: number;
  producers: { id: number; epoch: number; lastTimestamp: number; batches: [number, number, number, number][] }[];
}

export class ProducerStateTable {
  private readonly producers = new Map<number, ProducerEntry>();

  get size(): number {
    return this.producers.size;
  }

  /** Decides what a leader does with a producer's batch; throws when it must be refused. */
  check(b: ProducerBatch): SequenceCheck {
    const e = this.producers.get(b.producerId);
    if (e === undefined || e.batches.length === 0) {
      if (e !== undefined && b.producerEpoch < e.epoch) throw this.fenced(b, e);
      if (b.baseSequence !== 0) {
        throw new UnknownProducerIdError(`producer ${b.producerId} has no state in this partition (expired, or removed with the log it described); its first batch must have sequence 0, not ${b.baseSequence}`);
      }
      return { kind: 'append' };
    }
    if (b.producerEpoch < e.epoch) throw this.fenced(b, e);
    if (b.producerEpoch > e.epoch) {
      if (b.baseSequence !== 0) throw new OutOfOrderSequenceError(`producer ${b.producerId} starts epoch ${b.producerEpoch} at sequence ${b.baseSequence}; a new epoch starts at 0`);
      return { kind: 'append' };
    }
    const dup = e.batches.find((m) => m.firstSeq === b.baseSequence && m.lastSeq === b.lastSequence);
    if (dup !== undefined) return { kind: 'duplicate', firstOffset: dup.firstOffset, lastOffset: dup.lastOffset };
    const expected = nextSequence(e.batches[e.batches.length - 1]!.lastSeq);
    if (b.baseSequence !== expected) {
      throw new OutOfOrderSequenceError(`producer ${b.producerId} epoch ${b.producerEpoch}: expected sequence ${expected}, got ${b.baseSequence} (a batch before it is missing)`);
    }
    return { kind: 'append' };
  }

  /** Remembers a stored batch (leader after its append, follower as it copies the leader's log). */
  record(b: ProducerBatch, firstOffset: number, lastOffset: number, timestamp: number): void {
    let e = this.producers.get(b.producerId);
    if (e === undefined || b.producerEpoch > e.epoch) {
      e = { epoch: b.producerEpoch, batches: [], lastTimestamp: timestamp };
      this.producers.set(b.producerId, e);
    }
    e.batches.push({ firstSeq: b.baseSequence, lastSeq: b.lastSequence, firstOffset, lastOffset });
    if (e.batches.length > PRODUCER_BATCHES_KEPT) e.batches.shift();
    e.lastTimestamp = Math.max(e.lastTimestamp, timestamp);
  }

  /**
   * Forgets batches at or after `offset` (the log was truncated there): a retry of such a batch
   * must be stored again, not answered as a duplicate of records that no longer exist.
   */
  truncateTo(offset: number): void {
    for (const [id, e] of this.producers) {
      e.batches = e.batches.filter((m) => m.lastOffset < offset);
      if (e.batches.length === 0) this.producers.delete(id);
    }
  }

  /** Drops producer ids idle for longer than `maxIdleMs` (Kafka's producer.id.expiration.ms). */
  expire(now: number, maxIdleMs: number): number {
    let n = 0;
    for (const [id, e] of this.producers) {
      if (now - e.lastTimestamp > maxIdleMs) {
        this.producers.delete(id);
        n++;
      }
    }
    return n;
  }

  snapshot(offset: number): ProducerStateSnapshot {
    return {
      version: 1,
      offset,
      producers: [...this.producers].map(([id, e]) => ({
        id, epoch: e.epoch, lastTimestamp: e.lastTimestamp,
        batches: e.batches.map((m) => [m.firstSeq, m.lastSeq, m.firstOffset, m.lastOffset]),
      })),
    };
  }

  /** Restores a snapshot; throws naming the field when it is not one this code wrote. */
  static fromSnapshot(s: unknown): ProducerStateTable {
    const snap = s as Partial<ProducerStateSnapshot>;
    if (snap === null || typeof snap !== 'object' || snap.version !== 1 || !Array.isArray(snap.producers)) {
      throw new Error('producer state snapshot: not a version 1 snapshot');
    }
    const t = new ProducerStateTable();
    for (const p of snap.producers) {
      const ok = Number.isSafeInteger(p.id) && Number.isInteger(p.epoch) && Number.isFinite(p.lastTimestamp) && Array.isArray(p.batches)
        && p.batches.every((m) => Array.isArray(m) && m.length === 4 && m.every((x) => Number.isSafeInteger(x)));
      if (!ok) throw new Error(`producer state snapshot: producer ${String(p.id)} is malformed`);
      t.producers.set(p.id, {
        epoch: p.epoch, lastTimestamp: p.lastTimestamp,
        batches: p.batches.slice(-PRODUCER_BATCHES_KEPT).map(([firstSeq, lastSeq, firstOffset, lastOffset]) => ({ firstSeq, lastSeq, firstOffset, lastOffset })),
      });
    }
    return t;
  }

  private fenced(b: ProducerBatch, e: ProducerEntry): InvalidProducerEpochError {
    return new InvalidProducerEpochError(`producer ${b.producerId} epoch ${b.producerEpoch} is older than its current epoch ${e.epoch}: a newer session of this producer id exists`);
  }
}
