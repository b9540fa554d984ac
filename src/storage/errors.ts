/** Errors the storage layer throws. Codes are the wire names; the broker maps them 1:1. */
import { SluiceError } from '../errors.js';

export class OffsetOutOfRangeError extends SluiceError {
  constructor(readonly offset: number, readonly logStartOffset: number, readonly logEndOffset: number) {
    super('OFFSET_OUT_OF_RANGE', `offset ${offset} is outside the log [${logStartOffset}, ${logEndOffset}]`);
  }
}

export class UnknownTopicError extends SluiceError {
  constructor(readonly topic: string, readonly partition?: number) {
    super('UNKNOWN_TOPIC_OR_PARTITION',
      partition === undefined ? `unknown topic '${topic}'` : `unknown topic or partition '${topic}'/${partition}`);
  }
}

export class TopicExistsError extends SluiceError {
  constructor(readonly topic: string) {
    super('TOPIC_ALREADY_EXISTS', `topic '${topic}' already exists`);
  }
}

export class InvalidPartitionsError extends SluiceError {
  constructor(message: string) {
    super('INVALID_PARTITIONS', message);
  }
}

export class InvalidConfigError extends SluiceError {
  constructor(message: string) {
    super('INVALID_CONFIG', message);
  }
}

/** A file operation failed (disk full, permissions, closed log). Retriable: it may pass later. */
export class StorageError extends SluiceError {
  constructor(message: string, options?: ErrorOptions) {
    super('STORAGE_ERROR', message, options);
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
    /**
     * A copy of the bad batch's bytes as far as they can be trusted to belong to it: the whole
     * batch when only its CRC fails, its header when the header itself is bad. Never served;
     * for a reader that must skip the damage and keep it for forensics (a state log's replay).
     */
    readonly stored?: Buffer,
  ) {
    super('CORRUPT_MESSAGE',
      `${topic === undefined ? 'log' : `partition ${topic}/${partition}`} is corrupt at offset ${offset} (segment ${segment}, byte ${position}): ${reason}`);
  }

  /** The same fault, named with its partition. */
  in(topic: string, partition: number): CorruptLogError {
    return new CorruptLogError(this.segment, this.position, this.offset, this.reason, topic, partition, this.stored);
  }
}

/**
 * An append the log cannot take as asked: a leader epoch that is not an i32 >= 0, or both
 * `leaderEpoch` and `asFollower`. A caller's mistake, not a disk's: not retriable.
 */
export class InvalidAppendError extends SluiceError {
  constructor(message: string) {
    super('INVALID_REQUEST', message);
  }
}

/**
 * A follower append (`asFollower`) whose batches do not continue the log: the first does not
 * start at the log end, or one does not follow the batch before it. Nothing of it was stored;
 * the follower must truncate (follower-truncation.ts) or fetch from its log end offset.
 */
export class UnexpectedAppendOffsetError extends SluiceError {
  constructor(readonly firstOffset: number, readonly expectedOffset: number, detail = 'the log end offset') {
    super('INVALID_REQUEST', `follower append starts at offset ${firstOffset}, expected ${expectedOffset} (${detail})`);
  }
}

/** A producer batch whose sequence does not follow the last one stored for its producer (a gap or a reordering). */
export class OutOfOrderSequenceError extends SluiceError {
  constructor(message: string) {
    super('OUT_OF_ORDER_SEQUENCE_NUMBER', message);
  }
}

/** A batch from an older epoch of a producer id than one already stored: that producer was fenced by a newer session. */
export class InvalidProducerEpochError extends SluiceError {
  constructor(message: string) {
    super('INVALID_PRODUCER_EPOCH', message);
  }
}

/** A batch that continues a sequence of a producer id the partition has no state for (expired, or removed by retention or truncation). */
export class UnknownProducerIdError extends SluiceError {
  constructor(message: string) {
    super('UNKNOWN_PRODUCER_ID', message);
  }
}
