/** Errors the storage layer throws. Codes are the wire names; the broker maps them 1:1. */
import { SluiceError } from '../errors.js';

export class OffsetOutOfRangeError extends SluiceError {
  constructor(readonly offset: number, readonly logStartOffset: number, readonly logEndOffset: number) {
    super('OFFSET_OUT_OF_RANGE', `offset ${offset} is outside the log [${logStartOffset}, ${logEndOffset}]`, false);
  }
}

export class UnknownTopicError extends SluiceError {
  constructor(readonly topic: string, readonly partition?: number) {
    super('UNKNOWN_TOPIC_OR_PARTITION',
      partition === undefined ? `unknown topic '${topic}'` : `unknown topic or partition '${topic}'/${partition}`, true);
  }
}

export class TopicExistsError extends SluiceError {
  constructor(readonly topic: string) {
    super('TOPIC_ALREADY_EXISTS', `topic '${topic}' already exists`, false);
  }
}

export class InvalidPartitionsError extends SluiceError {
  constructor(message: string) {
    super('INVALID_PARTITIONS', message, false);
  }
}

export class InvalidConfigError extends SluiceError {
  constructor(message: string) {
    super('INVALID_CONFIG', message, false);
  }
}

/** A file operation failed (disk full, permissions, closed log). Retriable: it may pass later. */
export class StorageError extends SluiceError {
  constructor(message: string, options?: ErrorOptions) {
    super('STORAGE_ERROR', message, true, options);
  }
}

export class IndexOverflowError extends SluiceError {
  constructor(message: string) {
    super('STORAGE_ERROR', message, true);
  }
}

/**
 * Stored bytes failed a check when read back: the log is damaged at `offset` (the offset the
 * bad batch should start at), `position` bytes into segment `segment`. Nothing of that batch
 * is served. Segment.read throws it without the partition; DiskPartitionLog adds it (`in`).
 */
export class CorruptLogError extends SluiceError {
  constructor(
    readonly segment: number,
    readonly position: number,
    readonly offset: number,
    readonly reason: string,
    readonly topic?: string,
    readonly partition?: number,
  ) {
    super('CORRUPT_MESSAGE',
      `${topic === undefined ? 'log' : `partition ${topic}/${partition}`} is corrupt at offset ${offset} (segment ${segment}, byte ${position}): ${reason}`, false);
  }

  /** The same fault, named with its partition. */
  in(topic: string, partition: number): CorruptLogError {
    return new CorruptLogError(this.segment, this.position, this.offset, this.reason, topic, partition);
  }
}

/** A producer batch whose sequence does not follow the last one stored for its producer (a gap or a reordering). */
export class OutOfOrderSequenceError extends SluiceError {
  constructor(message: string) {
    super('OUT_OF_ORDER_SEQUENCE_NUMBER', message, false);
  }
}

/** A batch from an older epoch of a producer id than one already stored: that producer was fenced by a newer session. */
export class InvalidProducerEpochError extends SluiceError {
  constructor(message: string) {
    super('INVALID_PRODUCER_EPOCH', message, false);
  }
}

/** A batch that continues a sequence of a producer id the partition has no state for (expired, or removed by retention or truncation). */
export class UnknownProducerIdError extends SluiceError {
  constructor(message: string) {
    super('UNKNOWN_PRODUCER_ID', message, false);
  }
}
