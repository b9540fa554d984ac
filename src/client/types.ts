/** Public shapes shared by Producer, Consumer and Admin. */
import type { RecordHeader } from '../record/index.js';

export type { RecordHeader };
export type Bytes = Uint8Array | string;

/** A message to produce. `value` and `key` may be bytes or a string (sent as UTF-8). */
export interface ProducerMessage {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: RecordHeader[];
  /** Explicit partition; otherwise chosen from the key (murmur2) or sticky when keyless. */
  partition?: number;
  /** ms since epoch; default: when the batch is encoded. */
  timestamp?: number;
  /**
   * Queue mode: share groups hand the job out no earlier than this many ms after the send
   * (written as the `sluice.deliver.at` header; at most 30 days). Not with `deliverAt`.
   */
  delayMs?: number;
  /** Queue mode: share groups hand the job out no earlier than this time (Date or epoch ms). Not with `delayMs`. */
  deliverAt?: Date | number;
}

/** Where a produced message was stored. offset is -1 with acks=0 (the broker does not answer). */
export interface SendResult {
  topic: string;
  partition: number;
  offset: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A consumed message. key, value and header values are views into the fetched frame. */
export interface Message {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

export type Acks = 0 | 1 | 'all' | -1;
