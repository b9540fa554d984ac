/**
 * The one table of wire errors, shared by broker and client. A number never changes
 * meaning once released; where Kafka has the same error, Sluice uses Kafka's number so
 * operators can look codes up in either project's docs. Sluice-only errors live at 1000+.
 *
 * A local error (SluiceError subclass) crosses the wire as the entry whose name equals its
 * `code`; the client turns a wire error back into a SluiceError with the same code.
 */
import { SluiceError } from '../errors.js';

export interface ErrorSpec {
  readonly code: number;
  readonly retriable: boolean;
  readonly message: string;
}

export const ERRORS = {
  UNKNOWN_RETRIABLE: { code: -2, retriable: true, message: 'an error this client does not know; it may pass if retried' },
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, message: 'the broker failed unexpectedly' },
  NONE: { code: 0, retriable: false, message: '' },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false, message: 'the offset is outside the stored log' },
  CORRUPT_MESSAGE: { code: 2, retriable: false, message: 'a record batch failed its length, magic or CRC check' },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true, message: 'no such topic or partition' },
  INVALID_FETCH_SIZE: { code: 4, retriable: false, message: 'the fetch size is invalid' },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, message: 'the request timed out' },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false, message: 'the batch is larger than the broker accepts' },
  OFFSET_METADATA_TOO_LARGE: { code: 12, retriable: false, message: 'the commit metadata string is too large' },
  COORDINATOR_LOAD_IN_PROGRESS: { code: 14, retriable: true, message: 'the coordinator is loading state' },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true, message: 'the coordinator is not available' },
  INVALID_TOPIC: { code: 17, retriable: false, message: 'the topic name is invalid' },
  RECORD_LIST_TOO_LARGE: { code: 18, retriable: false, message: 'the request carries more bytes than the broker accepts' },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, message: 'acks must be 0, 1 or all (-1)' },
  ILLEGAL_GENERATION: { code: 22, retriable: false, message: 'the generation is not the current one' },
  INVALID_GROUP_ID: { code: 24, retriable: false, message: 'the group id is invalid' },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false, message: 'the member is not known to the group' },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false, message: 'the session timeout is outside the allowed range' },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false, message: 'the group is rebalancing' },
  INVALID_COMMIT_OFFSET_SIZE: { code: 28, retriable: false, message: 'the commit metadata is too large' },
  UNSUPPORTED_VERSION: { code: 35, retriable: false, message: 'the api version is not supported' },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, message: 'the topic already exists' },
  INVALID_PARTITIONS: { code: 37, retriable: false, message: 'the partition count is invalid' },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false, message: 'the replication factor is invalid or larger than the live brokers' },
  INVALID_CONFIG: { code: 40, retriable: false, message: 'a config value is invalid' },
  INVALID_REQUEST: { code: 42, retriable: false, message: 'the request is malformed' },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false, message: 'the producer batch does not follow the last stored sequence' },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false, message: 'the producer epoch is older than the current one (fenced)' },
  STORAGE_ERROR: { code: 56, retriable: true, message: 'the broker could not read or write its disk' },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false, message: 'the partition has no state for this producer id; start a new sequence' },
  NON_EMPTY_GROUP: { code: 68, retriable: false, message: 'the group has members' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, message: 'no such group' },
  GROUP_SUBSCRIBED_TO_TOPIC: { code: 86, retriable: false, message: 'the group has members subscribed to the topic' },
  INVALID_RECORD: { code: 87, retriable: false, message: 'a record batch header disagrees with the records it holds' },
  FENCED_MEMBER_EPOCH: { code: 110, retriable: false, message: 'the member epoch is fenced; rejoin' },
  UNSUPPORTED_ASSIGNOR: { code: 112, retriable: false, message: 'the group assignor is not known' },
  STALE_MEMBER_EPOCH: { code: 113, retriable: false, message: 'the member epoch is stale' },
  INVALID_RECORD_STATE: { code: 121, retriable: false, message: 'the record is not in a state that allows this' },
  INVALID_REGULAR_EXPRESSION: { code: 130, retriable: false, message: 'the subscription pattern is not a valid regular expression' },
  UNKNOWN_API: { code: 1000, retriable: false, message: 'the broker does not know this api' },
  TOO_MANY_REQUESTS: { code: 1001, retriable: true, message: 'too many requests in flight on this connection' },
  BROKER_SHUTTING_DOWN: { code: 1002, retriable: true, message: 'the broker is shutting down' },
  NETWORK_ERROR: { code: 1003, retriable: true, message: 'the connection to the broker failed' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof ERRORS;

const BY_CODE = new Map<number, ErrorName>(Object.entries(ERRORS).map(([name, spec]) => [spec.code, name as ErrorName]));

/** Name of a wire code; unknown numbers map to UNKNOWN_RETRIABLE (a newer broker's error). */
export function errorName(code: number): ErrorName {
  return BY_CODE.get(code) ?? 'UNKNOWN_RETRIABLE';
}

/** Wire number of a local error code; a code not in the table is UNKNOWN_SERVER_ERROR. */
export function errorCode(name: string): number {
  return (ERRORS as Record<string, ErrorSpec>)[name]?.code ?? ERRORS.UNKNOWN_SERVER_ERROR.code;
}

/** The error object that travels in a response: code plus a human message with context. */
export interface WireError {
  code: number;
  message: string;
  /** Extra context (e.g. the valid offset range for OFFSET_OUT_OF_RANGE). */
  data?: Record<string, unknown>;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof SluiceError && err.code in ERRORS) {
    const data: Record<string, unknown> = {};
    for (const k of ['logStartOffset', 'logEndOffset', 'offset', 'topic', 'partition'] as const) {
      const v = (err as unknown as Record<string, unknown>)[k];
      if (v !== undefined) data[k] = v;
    }
    return { code: errorCode(err.code), message: err.message, ...(Object.keys(data).length ? { data } : {}) };
  }
  return { code: ERRORS.UNKNOWN_SERVER_ERROR.code, message: err instanceof Error ? err.message : String(err) };
}

/** The error a client raises for a wire error: a SluiceError whose code is the table name. */
export class BrokerError extends SluiceError {
  constructor(readonly wireCode: number, message: string, readonly data?: Record<string, unknown>) {
    const name = errorName(wireCode);
    super(name, message || ERRORS[name].message, ERRORS[name].retriable);
  }
}

export function fromWireError(e: WireError): BrokerError {
  return new BrokerError(e.code, e.message, e.data);
}
