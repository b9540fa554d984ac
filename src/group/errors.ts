/**
 * Errors the group coordinator and offset store throw. Each `code` is an entry of the wire
 * table (src/protocol/errors.ts), so the broker maps them one to one.
 */
import { SluiceError } from '../errors.js';

/**
 * A heartbeat carried an epoch the coordinator never gave this member, or an old one that
 * cannot be explained by a lost response. The member must drop its partitions and rejoin
 * with epoch 0 (keeping its member id).
 */
export class FencedMemberEpochError extends SluiceError {
  constructor(readonly groupId: string, readonly memberId: string, readonly memberEpoch: number, readonly currentEpoch: number) {
    super('FENCED_MEMBER_EPOCH',
      `member '${memberId}' of group '${groupId}' sent epoch ${memberEpoch} but is at ${currentEpoch}; rejoin with epoch 0`);
  }
}

/**
 * An offset commit carried an epoch other than the member's current one. Usually a race
 * with a heartbeat response that moved the member on: heartbeat, then commit again.
 */
export class StaleMemberEpochError extends SluiceError {
  constructor(readonly groupId: string, readonly memberId: string, readonly memberEpoch: number, readonly currentEpoch: number) {
    super('STALE_MEMBER_EPOCH',
      `commit from member '${memberId}' of group '${groupId}' carries epoch ${memberEpoch}, current is ${currentEpoch}`);
  }
}

/**
 * An offset commit from a member, at its current epoch, for a partition it neither owns nor
 * is still revoking: positions captured before a rebalance gave the partition to another
 * member. Not retriable: the new owner commits it now. Same wire code as Kafka's (KIP-848).
 */
export class NotOwnedCommitError extends SluiceError {
  constructor(readonly groupId: string, readonly memberId: string, readonly memberEpoch: number, readonly topic: string, readonly partition: number) {
    super('STALE_MEMBER_EPOCH',
      `commit from member '${memberId}' of group '${groupId}' at epoch ${memberEpoch} for ${topic}/${partition}, which it does not own (reassigned by a rebalance)`);
  }
}

/** The member id is not (or no longer: left, timed out) in the group. Rejoin with epoch 0. */
export class UnknownMemberIdError extends SluiceError {
  constructor(readonly groupId: string, readonly memberId: string, detail = '') {
    super('UNKNOWN_MEMBER_ID', `member '${memberId}' is not in group '${groupId}'${detail ? `: ${detail}` : ''}`);
  }
}

export class InvalidGroupIdError extends SluiceError {
  constructor(readonly groupId: unknown) {
    super('INVALID_GROUP_ID', `group id must be a non-empty string of at most 255 characters, got ${JSON.stringify(groupId)}`);
  }
}

export class GroupIdNotFoundError extends SluiceError {
  constructor(readonly groupId: string) {
    super('GROUP_ID_NOT_FOUND', `no group '${groupId}'`);
  }
}

export class NonEmptyGroupError extends SluiceError {
  constructor(readonly groupId: string, readonly members: number) {
    super('NON_EMPTY_GROUP', `group '${groupId}' still has ${members} member(s)`);
  }
}

/** OffsetDelete on a topic an active member still subscribes to: the next commit would bring it back. */
export class GroupSubscribedToTopicError extends SluiceError {
  constructor(readonly groupId: string, readonly topic: string) {
    super('GROUP_SUBSCRIBED_TO_TOPIC', `group '${groupId}' has members subscribed to '${topic}'`);
  }
}

export class UnsupportedAssignorError extends SluiceError {
  constructor(readonly assignor: string, known: readonly string[]) {
    super('UNSUPPORTED_ASSIGNOR', `unknown assignor '${assignor}'; known: ${known.join(', ')}`);
  }
}

export class InvalidRegularExpressionError extends SluiceError {
  constructor(readonly pattern: string, reason: string) {
    super('INVALID_REGULAR_EXPRESSION', `subscription pattern ${JSON.stringify(pattern)} is invalid: ${reason}`);
  }
}

export class OffsetMetadataTooLargeError extends SluiceError {
  constructor(readonly topic: string, readonly partition: number, readonly size: number, readonly max: number) {
    super('OFFSET_METADATA_TOO_LARGE', `commit metadata for ${topic}/${partition} is ${size} bytes, at most ${max} allowed`);
  }
}

/** A request field is missing or out of range (the message says which). */
export class InvalidGroupRequestError extends SluiceError {
  constructor(message: string) {
    super('INVALID_REQUEST', message);
  }
}

/** The offset store is still replaying its log, or has been closed. */
export class CoordinatorNotAvailableError extends SluiceError {
  constructor(message: string) {
    super('COORDINATOR_NOT_AVAILABLE', message);
  }
}

/** A member asked for a session timeout outside the broker's group.minSessionTimeoutMs..group.maxSessionTimeoutMs. */
export class InvalidSessionTimeoutError extends SluiceError {
  constructor(readonly sessionTimeoutMs: unknown, readonly min: number, readonly max: number) {
    super('INVALID_SESSION_TIMEOUT', `sessionTimeoutMs must be an integer in ${min}..${max}, got ${String(sessionTimeoutMs)}`);
  }
}

/** The group's coordinator partition is not led here (cluster mode): FindCoordinator, then retry there. */
export class NotCoordinatorError extends SluiceError {
  constructor(readonly groupId: string, detail: string) {
    super('NOT_COORDINATOR', `this broker does not coordinate group '${groupId}': ${detail}`);
  }
}

/** This broker just became the group's coordinator and is replaying its partition: retry shortly. */
export class CoordinatorLoadInProgressError extends SluiceError {
  constructor(readonly groupId: string, partition: number) {
    super('COORDINATOR_LOAD_IN_PROGRESS', `the coordinator of group '${groupId}' is loading coordinator partition ${partition}; retry`);
  }
}

/**
 * `auth: scram`: a member's user lost read on its group or on a topic its subscription names,
 * so the member was removed from the group (its partitions go to members that may read them).
 * Not retriable: a rejoin is refused the same way until an ACL grants the read again.
 */
export class MemberAccessRevokedError extends SluiceError {
  constructor(readonly groupId: string, readonly memberId: string, readonly principal: string, readonly resource: { type: 'group' | 'topic'; name: string }) {
    super(resource.type === 'group' ? 'GROUP_AUTHORIZATION_FAILED' : 'TOPIC_AUTHORIZATION_FAILED',
      `user ${JSON.stringify(principal)} may not read ${resource.type} ${JSON.stringify(resource.name)}: member '${memberId}' was removed from group '${groupId}'`);
  }
}
