/**
 * The base of every error Sluice throws on purpose. `code` is the stable name of the
 * error and is the same string as its entry in the wire table (src/protocol/errors.ts),
 * so the broker maps a local error to a wire code by name, one to one. `retriable`
 * tells a client whether trying the same request again can succeed.
 *
 * This file has no imports so that every layer, including the pure ones, can use it.
 */
export class SluiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retriable = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A record batch failed its length, magic or CRC check, or a record does not fit its length. Nothing was stored from it. */
export class CorruptBatchError extends SluiceError {
  constructor(message: string, readonly position?: number) {
    super('CORRUPT_MESSAGE', message, false);
  }
}

/**
 * A record batch that arrived intact (length, magic, CRC) but whose header lies about its
 * records: a last offset delta or record count that does not match the records present,
 * offset deltas that do not run 0..n-1, a max timestamp no record has. Nothing was stored.
 */
export class InvalidRecordError extends SluiceError {
  constructor(message: string, readonly position?: number) {
    super('INVALID_RECORD', message, false);
  }
}

/** A topic name that could escape the data directory or is not allowed for another reason. */
export class InvalidTopicError extends SluiceError {
  constructor(message: string) {
    super('INVALID_TOPIC', message, false);
  }
}
