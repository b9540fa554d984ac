/**
 * The idempotent producer's bookkeeping (Kafka's enable.idempotence, KIP-98), kept apart from
 * the network so its rules are unit-testable. The producer holds a producer id and epoch
 * (InitProducerId) and numbers its batches per partition: a batch gets `baseSequence` = the
 * partition's next sequence when it is first sent, the sequence moves on by its record count,
 * and the three fields go into the RecordBatch v2 header (covered by the CRC, so a retry
 * resends the same bytes). The partition leader keeps the last IDEMPOTENT_WINDOW (5) batches
 * per producer and answers a retry of one of them with its original offsets, so a batch
 * whose answer was lost can be sent again without being stored twice.
 *
 * Rules, per partition:
 * - at most IDEMPOTENT_WINDOW batches are unsettled (sent, not yet acknowledged or failed):
 *   the leader could not recognise a retry of an older one;
 * - a batch that must be retried keeps its sequence, and the partition then sends one batch
 *   at a time, oldest first, until every batch that was in flight is settled: a later batch
 *   never overtakes an earlier one, and nothing new goes out meanwhile (it would be refused
 *   as out of order behind the gap);
 * - an OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID for a batch with an earlier batch
 *   still unsettled is the consequence of that one (it did not arrive first): retried in turn;
 * - otherwise OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH fail that batch's sends;
 *   UNKNOWN_PRODUCER_ID (the leader forgot the producer: expired, or its records were cut)
 *   means the batch was not stored and must start a new sequence: it is re-sequenced, with
 *   the retries of its partition waiting behind it (the leader would refuse them too);
 * - a batch that failed for good, or was refused, leaves a gap no later batch can cross: the
 *   producer resets once nothing is unsettled any more (every partition from sequence 0);
 *   batches waiting meanwhile go out after the reset, in order.
 *
 * A reset bumps the epoch of the same producer id (KIP-360's bump for the idempotent producer,
 * done by the client as Kafka's does) rather than taking a new id: a partition that has seen
 * a batch of the new epoch refuses every older-epoch batch of that id (INVALID_PRODUCER_EPOCH,
 * storage/producer-state.ts). So a copy of a batch that failed here but still reaches the
 * broker later (its frame held in a stalled link or a socket buffer, client/late-send.ts) is
 * either stored before the new epoch's batches of its partition or not at all: never after
 * them. Under a new id the broker would take it as the next of that id's sequence and store it
 * behind records sent after it. Only an epoch at its int16 maximum takes a new id.
 */
import { IDEMPOTENT_WINDOW } from '../record/index.js';
import { tpKey } from '../protocol/topic-partition.js';
import type { ProducerBatch } from './record-accumulator.js';

const SEQUENCE_SPACE = 0x8000_0000; // sequences are int32 >= 0 and wrap to 0, as on the broker
/** Producer epochs are int16 in the batch header. */
const MAX_PRODUCER_EPOCH = 0x7fff;

interface PartitionSequences {
  next: number;
  /** Sent at least once, not yet acknowledged or failed; oldest (lowest sequence) first. */
  unsettled: ProducerBatch[];
}

/** What to do with a batch the leader refused with a producer error. */
export type Refusal = 'retry' | 'resequence' | 'fail';

export class IdempotentSequences {
  producerId = -1;
  producerEpoch = -1;
  private readonly parts = new Map<string, PartitionSequences>();
  /** A gap was left: reset (bump the epoch) once nothing is unsettled. */
  private resetWanted = false;
  private unsettledTotal = 0;

  /** True while there is no producer id to send with (none yet, or a reset is due and nothing is unsettled). */
  get needsProducerId(): boolean {
    return this.producerId < 0 || (this.resetWanted && this.unsettledTotal === 0);
  }

  /**
   * A due reset done here, without the broker: the same producer id at the next epoch, every
   * partition from sequence 0 (see the file comment). False when there is no id yet or its
   * epoch is spent: then a new producer id is needed (InitProducerId, `start`).
   */
  bumpEpoch(): boolean {
    if (this.producerId < 0 || this.producerEpoch >= MAX_PRODUCER_EPOCH) return false;
    this.start(this.producerId, this.producerEpoch + 1);
    return true;
  }

  /** A new producer id (or epoch): every partition starts over at sequence 0. */
  start(producerId: number, producerEpoch: number): void {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    this.parts.clear();
    this.resetWanted = false;
    this.unsettledTotal = 0;
  }

  /**
   * Whether `b` may go out now; when it may and has no sequence yet, gives it one (the
   * caller encodes it afterwards). Called by RecordAccumulator.takeReady in ready order.
   */
  admit(b: ProducerBatch): boolean {
    if (this.producerId < 0) return false;
    const ps = this.part(b);
    if (b.baseSequence >= 0) {
      // A retry: only the oldest unsettled batch, and only once nothing else of the partition is in flight.
      // (Every unsettled batch has the current producer id: a reset waits until none is left.)
      if (ps.unsettled[0] !== b) return false;
      for (let i = 1; i < ps.unsettled.length; i++) if (ps.unsettled[i].inFlight) return false;
      b.inFlight = true;
      return true;
    }
    if (this.resetWanted || ps.unsettled.length >= IDEMPOTENT_WINDOW) return false;
    for (const u of ps.unsettled) if (!u.inFlight) return false; // retries first
    b.producerId = this.producerId;
    b.producerEpoch = this.producerEpoch;
    b.baseSequence = ps.next;
    ps.next = (ps.next + b.records.length) % SEQUENCE_SPACE;
    ps.unsettled.push(b);
    this.unsettledTotal++;
    b.inFlight = true;
    return true;
  }

  /** The leader stored `b` (or answered it as a duplicate of its first store). */
  acked(b: ProducerBatch): void {
    this.remove(b);
  }

  /** `b` failed retriably and will be sent again, with the same sequence. */
  retrying(b: ProducerBatch): void {
    b.inFlight = false;
  }

  /** `b` failed for good after it was sent: later batches of its partition are behind a gap. */
  failed(b: ProducerBatch): void {
    if (this.remove(b)) this.resetWanted = true;
  }

  /**
   * `b` was admitted but never sent (refused locally as too large): its sequence is taken back
   * (it is the newest of its partition: takeReady admits one batch per partition at a time).
   */
  withdraw(b: ProducerBatch): void {
    const ps = this.part(b);
    if (ps.unsettled[ps.unsettled.length - 1] === b) {
      ps.unsettled.pop();
      this.unsettledTotal--;
      ps.next = b.baseSequence;
    }
    b.inFlight = false;
  }

  /** Decides about a batch the leader refused with OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH. */
  refused(b: ProducerBatch, code: string): Refusal {
    const ps = this.part(b);
    if (code !== 'INVALID_PRODUCER_EPOCH' && ps.unsettled.indexOf(b) > 0) return 'retry';
    if (code === 'UNKNOWN_PRODUCER_ID') return 'resequence';
    return 'fail';
  }

  /**
   * `b`, the oldest unsettled batch of its partition, was refused with UNKNOWN_PRODUCER_ID and
   * not stored: it leaves its partition's sequence and will get a new one after the reset (the
   * caller puts it back among the ready batches, in order). The leader does not know this
   * producer on that partition, so it would refuse the later unsettled batches too: those
   * waiting for their retry (not in flight) leave the sequence with `b` (they sit among the
   * ready batches or in the retry hold, in order behind `b`); those in flight come back refused
   * and take this path in turn. Leaving them unsettled would deadlock the partition: `b` waits
   * for the reset, the reset for nothing to be unsettled, and the retries behind `b` for `b`
   * (a batch never overtakes an earlier one of its partition). A new leader that never got the
   * producer's batches (acks=1 writes its dead predecessor took) answers exactly this.
   */
  resequence(b: ProducerBatch): void {
    const ps = this.parts.get(tpKey(b.topic, b.partition));
    this.remove(b);
    this.resetWanted = true;
    unsequence(b);
    if (ps === undefined) return;
    for (const u of ps.unsettled.filter((x) => !x.inFlight)) {
      this.remove(u);
      unsequence(u);
    }
  }

  private remove(b: ProducerBatch): boolean {
    b.inFlight = false;
    const ps = this.parts.get(tpKey(b.topic, b.partition));
    const i = ps ? ps.unsettled.indexOf(b) : -1;
    if (i < 0) return false;
    ps!.unsettled.splice(i, 1);
    this.unsettledTotal--;
    return true;
  }

  private part(b: ProducerBatch): PartitionSequences {
    const key = tpKey(b.topic, b.partition);
    let ps = this.parts.get(key);
    if (ps === undefined) {
      ps = { next: 0, unsettled: [] };
      this.parts.set(key, ps);
    }
    return ps;
  }
}

/** Takes `b` out of any sequence: it is encoded again, with the producer id it gets when next admitted. */
function unsequence(b: ProducerBatch): void {
  b.producerId = -1;
  b.producerEpoch = -1;
  b.baseSequence = -1;
  b.encoded = null;
}
