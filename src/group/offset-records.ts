/**
 * Record format of the offsets log: ordinary RecordBatch v2 records.
 *
 *   key   utf-8 JSON array, one of
 *           ["o", group, topic, partition]  a committed offset
 *           ["g", group]                    group bookkeeping (when it became empty)
 *           ["s", generation]               end of a snapshot: the generation is complete
 *           ["m", group]                    cluster mode: the group's membership (KIP-848
 *                                           member epochs and target assignment)
 *   value msgpack map, or null (a tombstone: the key is deleted)
 *           o: { v: 1, offset, metadata, commitTimestamp, member?, seq? }
                                             member, seq: the committing member's id and its
                                             commit sequence (commit-order.ts), when it sent one
 *           g: { v: 1, emptySince }         ms, or null while the group has members
 *           s: { v: 1, entries }            live keys written before this marker
 *           m: { v: 1, ... }                group.ts' PersistedGroup, packed by the coordinator
 *
 * The last record for a key wins. Unknown key kinds decode as `unknown` and are skipped, so
 * records a newer broker added do not stop an older one from starting. JSON keys cost a few
 * bytes more than a binary layout but make the log readable with any batch dumper.
 */
import { pack, unpack } from 'msgpackr';
import { CorruptBatchError } from '../errors.js';
import type { RecordInput } from '../record/index.js';

export interface StoredOffset {
  offset: number;
  metadata: string;
  commitTimestamp: number;
  /** Who wrote it, when the member sent a commit sequence: a new coordinator orders that member's later commits against it (commit-order.ts). */
  stamp?: CommitStamp;
}

/** A member's commit sequence number (OffsetCommit `commitSeq`): a member's later capture of its positions has a higher one. */
export interface CommitStamp {
  /** The member id, or for a simple commit the client's `committerId` (commit-order.ts). */
  memberId: string;
  seq: number;
}

export type OffsetRecord =
  | { kind: 'offset'; group: string; topic: string; partition: number; value: StoredOffset | null }
  /** emptySince undefined: the group's record was deleted. */
  | { kind: 'group'; group: string; emptySince: number | null | undefined }
  | { kind: 'snapshot'; generation: number }
  /** state: the packed value as stored (opaque here: group.ts owns its shape), null once deleted. */
  | { kind: 'members'; group: string; state: Buffer | null }
  | { kind: 'unknown' };

export function offsetRecord(group: string, topic: string, partition: number, value: StoredOffset | null, timestamp: number): RecordInput {
  return {
    key: JSON.stringify(['o', group, topic, partition]),
    value: value === null ? null : pack({
      v: 1, offset: value.offset, metadata: value.metadata, commitTimestamp: value.commitTimestamp,
      ...(value.stamp && { member: value.stamp.memberId, seq: value.stamp.seq }),
    }),
    timestamp,
  };
}

/** emptySince undefined writes a tombstone. */
export function groupRecord(group: string, emptySince: number | null | undefined, timestamp: number): RecordInput {
  return { key: JSON.stringify(['g', group]), value: emptySince === undefined ? null : pack({ v: 1, emptySince }), timestamp };
}

/** `state` is the packed membership ({ v: 1, ... }); null writes a tombstone. */
export function membershipRecord(group: string, state: Buffer | null, timestamp: number): RecordInput {
  return { key: JSON.stringify(['m', group]), value: state, timestamp };
}

export function snapshotMarker(generation: number, entries: number, timestamp: number): RecordInput {
  return { key: JSON.stringify(['s', generation]), value: pack({ v: 1, entries }), timestamp };
}

/** Throws CorruptBatchError for a record that passed its batch CRC but does not decode (a bug, not bit rot). */
export function decodeOffsetRecord(key: Buffer | null, value: Buffer | null): OffsetRecord {
  let k: unknown;
  try {
    k = JSON.parse(key?.toString('utf8') ?? 'null');
  } catch (err) {
    throw new CorruptBatchError(`offsets log record key does not decode: ${(err as Error).message}`);
  }
  if (!Array.isArray(k) || !['o', 'g', 's', 'm'].includes(k[0])) return { kind: 'unknown' };
  // Membership values are checked where they are read back (group.ts), not unpacked twice.
  if (k[0] === 'm' && k.length === 2 && typeof k[1] === 'string') return { kind: 'members', group: k[1], state: value === null ? null : Buffer.from(value) };
  // Values are decoded only for known kinds: a newer kind may use another value format.
  let v: Record<string, unknown> | null;
  try {
    v = value === null ? null : (unpack(value) as Record<string, unknown>);
  } catch (err) {
    throw new CorruptBatchError(`offsets log record value does not decode: ${(err as Error).message}`);
  }
  if (v !== null && (typeof v !== 'object' || Array.isArray(v))) throw new CorruptBatchError('offsets log record value is not a map');
  if (k[0] === 'o' && k.length === 4 && typeof k[1] === 'string' && typeof k[2] === 'string' && Number.isInteger(k[3])) {
    if (v === null) return { kind: 'offset', group: k[1], topic: k[2], partition: k[3], value: null };
    if (typeof v.offset !== 'number' || typeof v.commitTimestamp !== 'number') {
      throw new CorruptBatchError(`offsets log record for ${k[1]}/${k[2]}/${k[3]} lacks offset or commitTimestamp`);
    }
    const stored: StoredOffset = { offset: v.offset, metadata: typeof v.metadata === 'string' ? v.metadata : '', commitTimestamp: v.commitTimestamp };
    // No stamp (a simple commit, a member that sent no sequence, an older broker's record): nothing to order later commits against.
    if (typeof v.member === 'string' && Number.isSafeInteger(v.seq)) stored.stamp = { memberId: v.member, seq: v.seq as number };
    return { kind: 'offset', group: k[1], topic: k[2], partition: k[3], value: stored };
  }
  if (k[0] === 'g' && k.length === 2 && typeof k[1] === 'string') {
    return { kind: 'group', group: k[1], emptySince: v === null ? undefined : typeof v.emptySince === 'number' ? v.emptySince : null };
  }
  if (k[0] === 's' && typeof k[1] === 'number') return { kind: 'snapshot', generation: k[1] };
  return { kind: 'unknown' };
}
