/**
 * Record format of the share state log: ordinary RecordBatch v2 records.
 *
 *   key   utf-8 JSON array, one of
 *           ["u", group, topic, partition]  an update: runs that changed, and the start offset
 *           ["p", group, topic, partition]  a partition snapshot: replaces all earlier state
 *           ["c", group]                    the group's config
 *           ["d", group]                    the group was deleted: forget all of it seen so far
 *           ["x", group, topic, partition]  the partition's topic was deleted: forget its state
 *           ["s", generation]               end of a snapshot: the generation is complete
 *   value msgpack map
 *           u: { v: 1, start, runs, acked, deadLettered, redeliveries }   (totals after it)
 *           p: { v: 1, start, runs, acked, deadLettered, redeliveries }
 *           c: { v: 1, config }
 *           d: { v: 1 }
 *           x: { v: 1 }
 *           s: { v: 1, entries }
 *   runs  flat array [first, last, state, deliveryCount, ...]; state 0 available, 2 acked,
 *         3 archived, 4 cancelled (acquired is written as 0: locks do not survive a restart)
 *         u and p values also carry `cancelled` (total cancelled by an admin; absent = 0)
 *   dl    (u and p, absent when none) records held for their dead-letter copy, flat
 *         [offset, cause, reason, ...]: cause 0 rejected, 1 max-deliveries; reason the copy's
 *         `sluice.dlq.reason`. Their runs say AVAILABLE with the delivery count, so a broker
 *         that predates `dl` reads them as it always did (available again: at-least-once);
 *         this one holds them again and resumes the copy. A `dl` entry applies after the runs
 *         of its own record, and a later record's run for the offset replaces it.
 *
 * Updates are absolute ("offsets a..b are now in state s with count n"), so replaying one
 * twice is harmless; that lets a snapshot be taken while updates are still queued. Unknown
 * key kinds are skipped so an older broker can start on a newer log (one that predates "x"
 * keeps the state of a deleted topic's partitions, as it always did).
 */
import { pack, unpack } from 'msgpackr';
import { CorruptBatchError } from '../errors.js';
import type { RecordInput } from '../record/index.js';
import { MAX_REASON_LENGTH } from './dead-letter.js';
import { MAX_WINDOW_LIMIT } from './share-config.js';
import { RecordState, type DeadLetterCause, type HeldDeadLetter, type RecordStateValue, type ShareGroupConfig, type StateRun } from './types.js';

export interface PartitionCounters {
  acked: number;
  deadLettered: number;
  redeliveries: number;
  cancelled: number;
}

export type ShareStateRecord =
  | { kind: 'update'; group: string; topic: string; partition: number; start: number; runs: StateRun[]; counters: PartitionCounters; deadLettering: HeldDeadLetter[] }
  | { kind: 'partition'; group: string; topic: string; partition: number; start: number; runs: StateRun[]; counters: PartitionCounters; deadLettering: HeldDeadLetter[] }
  | { kind: 'config'; group: string; config: Partial<ShareGroupConfig> }
  | { kind: 'delete'; group: string }
  | { kind: 'drop'; group: string; topic: string; partition: number }
  | { kind: 'snapshot'; generation: number }
  | { kind: 'unknown' };

function flatRuns(runs: readonly StateRun[]): number[] {
  const out = new Array<number>(runs.length * 4);
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i];
    out[i * 4] = r.first;
    out[i * 4 + 1] = r.last;
    out[i * 4 + 2] = r.state === RecordState.ACQUIRED ? RecordState.AVAILABLE : r.state;
    out[i * 4 + 3] = r.deliveryCount;
  }
  return out;
}

/**
 * Runs of a window starting at `start`. A window never reaches MAX_WINDOW_LIMIT offsets past
 * its start, and replay allocates up to a run's last offset: a run beyond that is refused
 * here rather than allocated (a forged `last` of 1e9 would take gigabytes at start-up).
 */
function parseRuns(flat: unknown, start: number, where: string): StateRun[] {
  if (!Array.isArray(flat) || flat.length % 4 !== 0) throw new CorruptBatchError(`share state record ${where}: runs is not a flat array of 4-tuples`);
  const out: StateRun[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    const [first, last, state, dc] = flat.slice(i, i + 4) as number[];
    if (![first, last, state, dc].every(Number.isSafeInteger) || first < 0 || last < first || last >= start + MAX_WINDOW_LIMIT || state < 0 || state > RecordState.CANCELLED) {
      throw new CorruptBatchError(`share state record ${where}: bad run ${JSON.stringify(flat.slice(i, i + 4))}`);
    }
    out.push({ first, last, state: state as RecordStateValue, deliveryCount: dc });
  }
  return out;
}

/** Cause numbers of `dl` entries: stored, never renumber. */
const CAUSES: readonly DeadLetterCause[] = ['rejected', 'max-deliveries'];

function flatHeld(held: readonly HeldDeadLetter[]): (number | string)[] {
  const out: (number | string)[] = [];
  for (const h of held) out.push(h.offset, CAUSES.indexOf(h.cause), h.reason);
  return out;
}

/** `dl` entries of a window starting at `start` (absent: none); each offset must lie in the window's reach. */
function parseHeld(flat: unknown, start: number, where: string): HeldDeadLetter[] {
  if (flat === undefined) return [];
  if (!Array.isArray(flat) || flat.length % 3 !== 0) throw new CorruptBatchError(`share state record ${where}: dl is not a flat array of 3-tuples`);
  const out: HeldDeadLetter[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const [offset, cause, reason] = flat.slice(i, i + 3) as unknown[];
    if (!Number.isSafeInteger(offset) || (offset as number) < start || (offset as number) >= start + MAX_WINDOW_LIMIT
      || (cause !== 0 && cause !== 1) || typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH) {
      throw new CorruptBatchError(`share state record ${where}: bad dl entry ${JSON.stringify(flat.slice(i, i + 3)).slice(0, 200)}`);
    }
    out.push({ offset: offset as number, cause: CAUSES[cause]!, reason });
  }
  return out;
}

/** A partition's window as an update (`u`) or a snapshot entry (`p`): same value, different key kind. */
function windowRecord(
  kind: 'u' | 'p', group: string, topic: string, partition: number, start: number, runs: readonly StateRun[], c: PartitionCounters, timestamp: number,
  held?: readonly HeldDeadLetter[],
): RecordInput {
  return {
    key: JSON.stringify([kind, group, topic, partition]),
    value: pack({
      v: 1, start, runs: flatRuns(runs), acked: c.acked, deadLettered: c.deadLettered, redeliveries: c.redeliveries,
      ...(c.cancelled ? { cancelled: c.cancelled } : {}), ...(held?.length ? { dl: flatHeld(held) } : {}),
    }),
    timestamp,
  };
}

export function updateRecord(
  group: string, topic: string, partition: number, start: number, runs: readonly StateRun[], c: PartitionCounters, timestamp: number,
  held?: readonly HeldDeadLetter[],
): RecordInput {
  return windowRecord('u', group, topic, partition, start, runs, c, timestamp, held);
}

export function partitionRecord(
  group: string, topic: string, partition: number, start: number, runs: readonly StateRun[], c: PartitionCounters, timestamp: number,
  held?: readonly HeldDeadLetter[],
): RecordInput {
  return windowRecord('p', group, topic, partition, start, runs, c, timestamp, held);
}

export function configRecord(group: string, config: ShareGroupConfig, timestamp: number): RecordInput {
  return { key: JSON.stringify(['c', group]), value: pack({ v: 1, config }), timestamp };
}

export function deleteRecord(group: string, timestamp: number): RecordInput {
  return { key: JSON.stringify(['d', group]), value: pack({ v: 1 }), timestamp };
}

export function dropRecord(group: string, topic: string, partition: number, timestamp: number): RecordInput {
  return { key: JSON.stringify(['x', group, topic, partition]), value: pack({ v: 1 }), timestamp };
}

export function snapshotMarker(generation: number, entries: number, timestamp: number): RecordInput {
  return { key: JSON.stringify(['s', generation]), value: pack({ v: 1, entries }), timestamp };
}

/** Throws CorruptBatchError for a record that passed its batch CRC but does not decode (a bug, not bit rot). */
export function decodeShareStateRecord(key: Buffer | null, value: Buffer | null): ShareStateRecord {
  let k: unknown;
  let v: Record<string, unknown> | null;
  try {
    k = JSON.parse(key?.toString('utf8') ?? 'null');
    v = value === null ? null : (unpack(value) as Record<string, unknown>);
  } catch (err) {
    throw new CorruptBatchError(`share state record does not decode: ${(err as Error).message}`);
  }
  if (!Array.isArray(k) || v === null || typeof v !== 'object') return { kind: 'unknown' };
  if ((k[0] === 'u' || k[0] === 'p') && k.length === 4 && typeof k[1] === 'string' && typeof k[2] === 'string' && Number.isInteger(k[3])) {
    const where = `${k[0]} ${k[1]}/${k[2]}/${k[3]}`;
    if (!Number.isSafeInteger(v.start) || (v.start as number) < 0) throw new CorruptBatchError(`share state record ${where}: no start offset`);
    const runs = parseRuns(v.runs, v.start as number, where);
    const n = (x: unknown) => (typeof x === 'number' ? x : 0);
    const counters = { acked: n(v.acked), deadLettered: n(v.deadLettered), redeliveries: n(v.redeliveries), cancelled: n(v.cancelled) };
    const deadLettering = parseHeld(v.dl, v.start as number, where);
    return { kind: k[0] === 'u' ? 'update' : 'partition', group: k[1], topic: k[2], partition: k[3], start: v.start as number, runs, counters, deadLettering };
  }
  if (k[0] === 'c' && k.length === 2 && typeof k[1] === 'string') {
    return { kind: 'config', group: k[1], config: (v.config ?? {}) as Partial<ShareGroupConfig> };
  }
  if (k[0] === 'd' && k.length === 2 && typeof k[1] === 'string') return { kind: 'delete', group: k[1] };
  if (k[0] === 'x' && k.length === 4 && typeof k[1] === 'string' && typeof k[2] === 'string' && Number.isInteger(k[3])) {
    return { kind: 'drop', group: k[1], topic: k[2], partition: k[3] };
  }
  if (k[0] === 's' && typeof k[1] === 'number') return { kind: 'snapshot', generation: k[1] };
  return { kind: 'unknown' };
}
