/**
 * The base of every error Sluice throws on purpose, and the one table of error codes.
 * `code` is the stable name of the error; a wire code is the same string as its entry in
 * ERRORS, so the broker maps a local error to a wire code by name, one to one (the wire
 * mapping is src/protocol/errors.ts). `retriable` tells a client whether trying the same
 * request again can succeed; it is stated once per code, in the tables below, and every
 * error reads it from there.
 *
 * This file has no imports so that every layer, including the pure ones, can use it.
 */

export interface ErrorSpec {
  readonly code: number;
  readonly retriable: boolean;
  readonly message: string;
}

/**
 * The wire errors. A number never changes meaning once released; where Kafka has the same
 * error, Sluice uses Kafka's number so operators can look codes up in either project's docs.
 * Sluice-only errors live at 1000+.
 */
export const ERRORS = {
  UNKNOWN_RETRIABLE: { code: -2, retriable: true, message: 'an error this client does not know; it may pass if retried' },
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, message: 'the broker failed unexpectedly' },
  NONE: { code: 0, retriable: false, message: '' },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false, message: 'the offset is outside the stored log' },
  CORRUPT_MESSAGE: { code: 2, retriable: false, message: 'a record batch failed its length, magic or CRC check' },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true, message: 'no such topic or partition' },
  NOT_LEADER_OR_FOLLOWER: { code: 6, retriable: true, message: 'this broker does not lead the partition (or holds no replica of it); refresh metadata and retry at the leader' },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, message: 'the request timed out' },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false, message: 'the batch is larger than the broker accepts' },
  OFFSET_METADATA_TOO_LARGE: { code: 12, retriable: false, message: 'the commit metadata string is too large' },
  COORDINATOR_LOAD_IN_PROGRESS: { code: 14, retriable: true, message: 'the coordinator is loading state' },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true, message: 'the coordinator is not available' },
  NOT_COORDINATOR: { code: 16, retriable: true, message: 'this broker does not coordinate the group; ask FindCoordinator and retry there' },
  INVALID_TOPIC: { code: 17, retriable: false, message: 'the topic name is invalid' },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true, message: 'fewer in-sync replicas than the topic\'s minInsyncReplicas; the write was not appended' },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { code: 20, retriable: true, message: 'appended on the leader, but the in-sync replicas fell below minInsyncReplicas before it was replicated' },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, message: 'acks must be 0, 1 or all (-1)' },
  TOPIC_AUTHORIZATION_FAILED: { code: 29, retriable: false, message: 'the principal may not do this on the topic (no ACL allows it, or one denies it)' },
  GROUP_AUTHORIZATION_FAILED: { code: 30, retriable: false, message: 'the principal may not do this on the group (no ACL allows it, or one denies it)' },
  CLUSTER_AUTHORIZATION_FAILED: { code: 31, retriable: false, message: 'the principal may not do this on the cluster (an admin or broker-only request; no ACL allows it, or one denies it)' },
  UNSUPPORTED_SASL_MECHANISM: { code: 33, retriable: false, message: 'the broker does not offer this SASL mechanism' },
  ILLEGAL_SASL_STATE: { code: 34, retriable: false, message: 'the SASL request is not the one expected at this step of the exchange' },
  INCONSISTENT_GROUP_PROTOCOL: { code: 23, retriable: false, message: 'the member asked for group settings other than the existing group\'s (a share group\'s are changed with an alter, not by a worker joining)' },
  INVALID_GROUP_ID: { code: 24, retriable: false, message: 'the group id is invalid' },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false, message: 'the member is not known to the group' },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false, message: 'the session timeout is outside the allowed range' },
  UNSUPPORTED_VERSION: { code: 35, retriable: false, message: 'the api version is not supported' },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, message: 'the topic already exists' },
  INVALID_PARTITIONS: { code: 37, retriable: false, message: 'the partition count is invalid' },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false, message: 'the replication factor is invalid or larger than the live brokers' },
  INVALID_REPLICA_ASSIGNMENT: { code: 39, retriable: false, message: 'the replica list is invalid (empty, repeated or unknown broker ids)' },
  INVALID_CONFIG: { code: 40, retriable: false, message: 'a config value is invalid' },
  NOT_CONTROLLER: { code: 41, retriable: true, message: 'this broker is not the controller; retry where metadata says the controller is' },
  INVALID_REQUEST: { code: 42, retriable: false, message: 'the request is malformed' },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false, message: 'the producer batch does not follow the last stored sequence' },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false, message: 'the producer epoch is older than the current one (fenced)' },
  SASL_AUTHENTICATION_FAILED: { code: 58, retriable: false, message: 'authentication failed: unknown user, wrong password or a broken exchange' },
  STORAGE_ERROR: { code: 56, retriable: true, message: 'the broker could not read or write its disk' },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false, message: 'the partition has no state for this producer id; start a new sequence' },
  REASSIGNMENT_IN_PROGRESS: { code: 60, retriable: false, message: 'a reassignment of this partition is already running' },
  NON_EMPTY_GROUP: { code: 68, retriable: false, message: 'the group has members' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, message: 'no such group' },
  FENCED_LEADER_EPOCH: { code: 74, retriable: true, message: 'the leader epoch in the request is older than the broker\'s; refresh metadata' },
  UNKNOWN_LEADER_EPOCH: { code: 75, retriable: true, message: 'the leader epoch in the request is newer than the broker\'s; it has not caught up with the cluster yet' },
  OFFSET_NOT_AVAILABLE: { code: 78, retriable: true, message: 'the leader was elected moments ago and its high watermark has not caught up with its epoch start; retry' },
  PREFERRED_LEADER_NOT_AVAILABLE: { code: 80, retriable: true, message: 'the preferred replica is not alive or not in the ISR; it cannot lead now' },
  ELECTION_NOT_NEEDED: { code: 84, retriable: false, message: 'the preferred replica already leads the partition' },
  NO_REASSIGNMENT_IN_PROGRESS: { code: 85, retriable: false, message: 'no reassignment of this partition is running' },
  GROUP_SUBSCRIBED_TO_TOPIC: { code: 86, retriable: false, message: 'the group has members subscribed to the topic' },
  INVALID_RECORD: { code: 87, retriable: false, message: 'a record batch header disagrees with the records it holds' },
  FENCED_MEMBER_EPOCH: { code: 110, retriable: false, message: 'the member epoch is fenced; rejoin' },
  UNSUPPORTED_ASSIGNOR: { code: 112, retriable: false, message: 'the group assignor is not known' },
  STALE_MEMBER_EPOCH: { code: 113, retriable: false, message: 'the member epoch is stale' },
  INVALID_RECORD_STATE: { code: 121, retriable: false, message: 'the record is not in a state that allows this' },
  RESOURCE_NOT_FOUND: { code: 91, retriable: false, message: 'no such resource (a user that does not exist)' },
  UNACCEPTABLE_CREDENTIAL: { code: 93, retriable: false, message: 'the credential is not acceptable (user name, iterations, salt or key sizes)' },
  INVALID_REGULAR_EXPRESSION: { code: 130, retriable: false, message: 'the subscription pattern is not a valid regular expression' },
  UNKNOWN_API: { code: 1000, retriable: false, message: 'the broker does not know this api' },
  TOO_MANY_REQUESTS: { code: 1001, retriable: true, message: 'too many requests in flight on this connection' },
  BROKER_SHUTTING_DOWN: { code: 1002, retriable: true, message: 'the broker is shutting down' },
  NETWORK_ERROR: { code: 1003, retriable: true, message: 'the connection to the broker failed' },
  AUTHENTICATION_REQUIRED: { code: 1016, retriable: false, message: 'the broker requires authentication (SASL/SCRAM) before any other request; give the client sasl credentials' },
  ETCD_UNAVAILABLE: { code: 1004, retriable: true, message: 'etcd (the cluster\'s metadata store) does not answer; topics cannot be created, deleted or grown until it is back' },
} as const satisfies Record<string, ErrorSpec>;

/** Errors that never cross the wire: ones a client raises itself, and the broker-internal ones of cluster membership. */
export const LOCAL_ERRORS = {
  NO_OFFSET: { retriable: false, message: 'no committed offset and autoOffsetReset is none' },
  CLIENT_CLOSED: { retriable: false, message: 'the client is closed' },
  INVALID_ARGUMENT: { retriable: false, message: 'an argument is invalid' },
  OUTPUT_CLOSED: { retriable: false, message: 'the sluice command\'s stdout was closed by its reader (EPIPE)' },
  // Cluster membership (src/cluster/): they stop a broker's start-up or make the controller decide again.
  NODE_ID_IN_USE: { retriable: false, message: 'another live broker is registered with this node id' },
  CONTROLLER_FENCED: { retriable: true, message: 'this broker is no longer the controller' },
  SESSION_EXPIRED: { retriable: true, message: 'the etcd session is gone or no longer trusted' },
} as const satisfies Record<string, Omit<ErrorSpec, 'code'>>;

export type WireErrorName = keyof typeof ERRORS;
/** Every error code Sluice raises: `new SluiceError('NOT_A_CODE', ...)` does not compile. */
export type ErrorName = WireErrorName | keyof typeof LOCAL_ERRORS;

/** `retriable` of a code; false for a name outside the tables (only plain JavaScript can pass one). */
function retriableOf(code: ErrorName): boolean {
  if (Object.hasOwn(ERRORS, code)) return ERRORS[code as WireErrorName].retriable;
  if (Object.hasOwn(LOCAL_ERRORS, code)) return LOCAL_ERRORS[code as keyof typeof LOCAL_ERRORS].retriable;
  return false;
}

export class SluiceError extends Error {
  /** From the table entry of `code`. */
  readonly retriable: boolean;

  constructor(
    readonly code: ErrorName,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.retriable = retriableOf(code);
  }
}

/** A record batch failed its length, magic or CRC check, or a record does not fit its length. Nothing was stored from it. */
export class CorruptBatchError extends SluiceError {
  constructor(message: string, readonly position?: number) {
    super('CORRUPT_MESSAGE', message);
  }
}

/**
 * A record batch that arrived intact (length, magic, CRC) but whose header lies about its
 * records: a last offset delta or record count that does not match the records present,
 * offset deltas that do not run 0..n-1, a max timestamp no record has. Nothing was stored.
 */
export class InvalidRecordError extends SluiceError {
  constructor(message: string, readonly position?: number) {
    super('INVALID_RECORD', message);
  }
}

/** A topic name that could escape the data directory or is not allowed for another reason. */
export class InvalidTopicError extends SluiceError {
  constructor(message: string) {
    super('INVALID_TOPIC', message);
  }
}
