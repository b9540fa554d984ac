/** Consumer options for group mode, their defaults and checks. */
import { InvalidArgumentError } from './errors.js';
import type { TopicPartition } from './types.js';

export interface GroupConsumerOptions {
  /** Join this consumer group: partitions come from the group coordinator. Requires `topics`. */
  groupId?: string;
  /** Topic names, or a RegExp matched against whole topic names (new matching topics are picked up). */
  topics?: string | string[] | RegExp;
  /** Commit positions every autoCommitIntervalMs, before releasing a partition and on close(). Default true. */
  autoCommit?: boolean;
  /** Default 5000. */
  autoCommitIntervalMs?: number;
  /** Leave the group when the application stays this long in a handler / without pulling. Default 300000. */
  maxPollIntervalMs?: number;
  /** This member's session timeout (the broker's bounds apply). Default: the broker's group.sessionTimeoutMs. */
  sessionTimeoutMs?: number;
  /** How long this member may take to give partitions up. Default: the broker's (5 min). */
  rebalanceTimeoutMs?: number;
  onPartitionsAssigned?: (tps: TopicPartition[]) => void;
  /** Called after the revoked partitions' positions were committed and fetching stopped. */
  onPartitionsRevoked?: (tps: TopicPartition[]) => void;
}

export function groupOptions(o: GroupConsumerOptions) {
  const groupId = o.groupId ?? '';
  if (o.groupId !== undefined && (typeof o.groupId !== 'string' || o.groupId === '')) throw new InvalidArgumentError('groupId must be a non-empty string');
  let topics: string[] | RegExp = [];
  if (groupId) {
    if (o.topics instanceof RegExp) topics = o.topics;
    else if (typeof o.topics === 'string') topics = [o.topics];
    else if (Array.isArray(o.topics) && o.topics.length > 0 && o.topics.every((t) => typeof t === 'string' && t)) topics = o.topics;
    else throw new InvalidArgumentError('a consumer with a groupId needs topics: a name, a list of names or a RegExp');
  }
  const positive = (v: number | undefined, name: string, dflt: number) => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(`${name} must be a positive integer (ms)`);
    return v;
  };
  return {
    groupId,
    topics,
    autoCommit: o.autoCommit ?? true,
    autoCommitIntervalMs: positive(o.autoCommitIntervalMs, 'autoCommitIntervalMs', 5000),
    maxPollIntervalMs: positive(o.maxPollIntervalMs, 'maxPollIntervalMs', 300_000),
    onPartitionsAssigned: o.onPartitionsAssigned,
    onPartitionsRevoked: o.onPartitionsRevoked,
  };
}
