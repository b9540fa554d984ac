/**
 * Errors queue mode throws. Each `code` is an entry of the wire table
 * (src/protocol/errors.ts), so the broker maps them one to one.
 */
import { SluiceError } from '../errors.js';

/**
 * A worker tried to settle (ack, release, reject, extend) a record it does not hold: never
 * acquired, acquired by another worker, its lock expired and it went back, or it is already
 * settled. Nothing in the request was applied. Not retriable: the record is someone else's now.
 */
export class InvalidRecordStateError extends SluiceError {
  constructor(
    readonly group: string,
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    detail: string,
  ) {
    super('INVALID_RECORD_STATE', `share group '${group}' ${topic}/${partition} offset ${offset}: ${detail}`);
  }
}

/** A worker id the group does not know (never acquired, left, or timed out). Acquire again to rejoin. */
export class UnknownShareWorkerError extends SluiceError {
  constructor(readonly group: string, readonly workerId: string) {
    super('UNKNOWN_MEMBER_ID', `worker '${workerId}' is not in share group '${group}'`);
  }
}

export class UnknownShareGroupError extends SluiceError {
  constructor(readonly group: string) {
    super('GROUP_ID_NOT_FOUND', `no share group '${group}'`);
  }
}

/** Deleting a share group that still has workers: they must leave (or time out) first. */
export class NonEmptyShareGroupError extends SluiceError {
  constructor(readonly group: string, workers: number) {
    super('NON_EMPTY_GROUP', `share group '${group}' still has ${workers} worker(s); stop them (or wait for their session timeout) first`);
  }
}

/** A group config value out of range; `field` names it. */
export class InvalidShareConfigError extends SluiceError {
  constructor(readonly field: string, readonly detail: string) {
    super('INVALID_CONFIG', `share group config ${field}: ${detail}`);
  }
}

/** Bad request fields (offsets that are not integers, empty worker ids). */
export class InvalidShareRequestError extends SluiceError {
  constructor(detail: string) {
    super('INVALID_REQUEST', detail);
  }
}

/** One setting a worker gave that differs from its group's: both values, as the message shows them. */
export interface ShareSettingDifference {
  readonly setting: string;
  readonly group: unknown;
  readonly given: unknown;
}

/**
 * A worker joined an existing share group giving settings other than the group's. They are
 * a group's, not a worker's: applying them would let one worker started from an old script
 * change what every worker of the group lives by, and ignoring them surprised users (RabbitMQ
 * refuses a queue declared again with other arguments, NATS a consumer created again with
 * another config). Not retriable: only an alter of the group, or other settings, changes the answer.
 */
export class ShareSettingsConflictError extends SluiceError {
  constructor(readonly group: string, readonly differences: readonly ShareSettingDifference[], message: string) {
    super('INCONSISTENT_GROUP_PROTOCOL', message);
  }
}
