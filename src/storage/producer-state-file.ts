/**
 * The `producer-state.snapshot` file of a partition directory and the replay that rebuilds a
 * partition's ProducerStateTable (producer-state.ts) at open, as Kafka's ProducerStateManager
 * does with its `<offset>.snapshot` files:
 *
 *   { "version": 1, "offset": 1042, "producers": [{ "id", "epoch", "lastTimestamp", "batches": [[firstSeq, lastSeq, firstOffset, lastOffset], ...] }] }
 *
 * `offset` is the log end offset the table described when it was written; the batches at and
 * after it are replayed on top from their headers (producerId, producerEpoch, baseSequence,
 * lastOffsetDelta, maxTimestamp), so recovery reads the tail only. Written at a clean close
 * (offset = log end: nothing to replay), at every segment roll (offset = the new segment's
 * base: at most the active segment is replayed after a crash) and after a truncation (so no
 * snapshot ever describes batches the log no longer holds: a retry of a cut batch would be
 * answered as a duplicate of records that are gone). Replaced whole with writeFileAtomic, so
 * after a power loss it is the old one or the new one.
 *
 * It is derived data: every idempotent batch carries its producer fields in its header. A
 * snapshot that is missing, does not parse, or claims an offset past the log end is ignored and
 * the whole log replayed from its start (the caller logs why).
 */
import { join } from 'node:path';
import {
  BASE_OFFSET, BASE_SEQUENCE, LAST_OFFSET_DELTA, MAX_TIMESTAMP, PRODUCER_EPOCH, PRODUCER_ID, readInt64,
} from '../record/index.js';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { lastSequenceOf, ProducerStateTable } from './producer-state.js';
import { scanBatches } from './scan-batches.js';
import type { FileSystem } from './file-system.js';
import type { Segment } from './segment.js';

export const PRODUCER_STATE_FILE = 'producer-state.snapshot';

/** A snapshot read back: the table and the offset replay starts at. */
export interface LoadedProducerState {
  table: ProducerStateTable;
  offset: number;
}

/**
 * Reads the snapshot in `dir`: null when there is none; throws (naming what is wrong) when it
 * is not one this code wrote.
 */
export async function readProducerSnapshot(dir: string, fs: FileSystem): Promise<LoadedProducerState | null> {
  const text = await readOptionalText(join(dir, PRODUCER_STATE_FILE), fs);
  if (text === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`producer state snapshot: not JSON (${(err as Error).message})`);
  }
  const table = ProducerStateTable.fromSnapshot(json);
  const offset = (json as { offset?: unknown }).offset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error(`producer state snapshot: offset ${String(offset)} is not an offset`);
  return { table, offset };
}

export async function writeProducerSnapshot(
  dir: string, table: ProducerStateTable, offset: number, fs: FileSystem, opts: { syncDirectory?: boolean } = {},
): Promise<void> {
  await writeFileAtomic(join(dir, PRODUCER_STATE_FILE), JSON.stringify(table.snapshot(offset)), fs, opts);
}

/**
 * Records in `table` every idempotent batch (producerId >= 0) stored at or after `from`, in
 * log order, from the batch headers only (no CRC: the segments were recovered or checked at
 * open). A batch's time is its maxTimestamp: the log keeps no append time. Returns the number
 * of batches recorded.
 */
export async function replayProducerState(table: ProducerStateTable, segments: readonly Segment[], from: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const next = i + 1 < segments.length ? segments[i + 1].baseOffset : s.nextOffset;
    if (next <= from || s.size === 0) continue;
    await s.withFile((fh) => scanBatches(fh, 0, s.size, false, (buf, off) => {
      const producerId = readInt64(buf, off + PRODUCER_ID);
      if (producerId < 0) return true;
      const base = readInt64(buf, off + BASE_OFFSET);
      if (base < from) return true;
      const delta = buf.readInt32BE(off + LAST_OFFSET_DELTA);
      const baseSequence = buf.readInt32BE(off + BASE_SEQUENCE);
      table.record(
        { producerId, producerEpoch: buf.readInt16BE(off + PRODUCER_EPOCH), baseSequence, lastSequence: lastSequenceOf(baseSequence, delta + 1) },
        base, base + delta, readInt64(buf, off + MAX_TIMESTAMP),
      );
      n++;
      return true;
    }));
  }
  return n;
}
