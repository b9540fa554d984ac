/**
 * Shape checks for the parts of group requests the coordinator reads, so malformed input
 * (from a buggy client, before the protocol layer checks these apis) is an INVALID_REQUEST
 * naming the field, never a TypeError deep inside the state machine.
 */
import { InvalidGroupRequestError } from './errors.js';
import type { TopicPartition, TopicPartitions } from './types.js';

const I32_MAX = 0x7fff_ffff;

function isPartition(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= I32_MAX;
}

/** `[{ topic, partitions: number[] }]` */
export function checkTopicPartitionsList(v: unknown, field: string): asserts v is TopicPartitions[] {
  if (!Array.isArray(v)) throw new InvalidGroupRequestError(`${field} must be an array`);
  v.forEach((e, i) => {
    if (e === null || typeof e !== 'object') throw new InvalidGroupRequestError(`${field}[${i}] must be a map`);
    const { topic, partitions } = e as Record<string, unknown>;
    if (typeof topic !== 'string' || topic === '') throw new InvalidGroupRequestError(`${field}[${i}].topic must be a non-empty string`);
    if (!Array.isArray(partitions) || !partitions.every(isPartition)) {
      throw new InvalidGroupRequestError(`${field}[${i}].partitions must be an array of partition numbers`);
    }
  });
}

/** `[{ topic, partition }]`; extra fields (offset, metadata) are the caller's to check. */
export function checkPartitionRefs(v: unknown, field: string): asserts v is TopicPartition[] {
  if (!Array.isArray(v)) throw new InvalidGroupRequestError(`${field} must be an array`);
  v.forEach((e, i) => {
    if (e === null || typeof e !== 'object') throw new InvalidGroupRequestError(`${field}[${i}] must be a map`);
    const { topic, partition } = e as Record<string, unknown>;
    if (typeof topic !== 'string' || topic === '') throw new InvalidGroupRequestError(`${field}[${i}].topic must be a non-empty string`);
    if (!isPartition(partition)) throw new InvalidGroupRequestError(`${field}[${i}].partition must be a partition number`);
  });
}

/** memberId a string, memberEpoch -1, 0 or a positive integer. */
export function checkMemberFields(memberId: unknown, memberEpoch: unknown): void {
  if (typeof memberId !== 'string') throw new InvalidGroupRequestError('memberId must be a string');
  if (typeof memberEpoch !== 'number' || !Number.isInteger(memberEpoch) || memberEpoch < -1) {
    throw new InvalidGroupRequestError(`memberEpoch must be -1, 0 or a positive integer, got ${String(memberEpoch)}`);
  }
}
