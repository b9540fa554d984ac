/**
 * The `leader-epoch-checkpoint` file of a partition directory: the leader-epoch cache
 * (leader-epoch-cache.ts) on disk, in Kafka's text layout so an operator can read it:
 *
 *   0                  version
 *   2                  number of entries
 *   0 0                epoch startOffset (decimal, one entry a line, both strictly increasing)
 *   3 1042
 *
 * Replaced whole with writeFileAtomic (temp file, fsync, rename, directory fsync), so after
 * a power loss it is the old content or the new, never a mix. It is derived data: every
 * batch written with a leader epoch carries it in its header (partitionLeaderEpoch, outside
 * the CRC), so a file that does not parse is rebuilt by walking the batch headers
 * (`epochsFromSegments`). A missing file is an empty cache: a log written without leader
 * epochs (single-node mode) never gets one.
 */
import { join } from 'node:path';
import { BASE_OFFSET, PARTITION_LEADER_EPOCH, readInt64 } from '../record/index.js';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { LeaderEpochCache, type EpochEntry } from './leader-epoch-cache.js';
import { scanBatches } from './scan-batches.js';
import type { FileSystem } from './file-system.js';
import type { Segment } from './segment.js';

export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint';
export const CHECKPOINT_VERSION = 0;

/** The checkpoint's text for `entries`. */
export function formatCheckpoint(entries: readonly EpochEntry[]): string {
  let out = `${CHECKPOINT_VERSION}\n${entries.length}\n`;
  for (const e of entries) out += `${e.epoch} ${e.startOffset}\n`;
  return out;
}

/** Thrown by parseCheckpoint: the file's text is not a checkpoint (the reason says where). */
export class CheckpointFormatError extends Error {}

const INT = /^(0|[1-9]\d{0,15})$/;

/** Parses a checkpoint's text; throws CheckpointFormatError naming the first thing wrong. */
export function parseCheckpoint(text: string): EpochEntry[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== String(CHECKPOINT_VERSION)) throw new CheckpointFormatError(`line 1: version '${lines[0] ?? ''}', expected ${CHECKPOINT_VERSION}`);
  if (lines.length < 2 || !INT.test(lines[1])) throw new CheckpointFormatError(`line 2: entry count '${lines[1] ?? ''}' is not a number`);
  const count = Number(lines[1]);
  if (lines.length - 2 !== count) throw new CheckpointFormatError(`line 2: ${count} entries announced, ${lines.length - 2} present`);
  const out: EpochEntry[] = [];
  for (let i = 2; i < lines.length; i++) {
    const [e, o, extra] = lines[i].split(' ');
    if (extra !== undefined || !INT.test(e ?? '') || !INT.test(o ?? '')) throw new CheckpointFormatError(`line ${i + 1}: '${lines[i]}' is not 'epoch startOffset'`);
    const entry = { epoch: Number(e), startOffset: Number(o) };
    const prev = out[out.length - 1];
    if (entry.epoch > 0x7fff_ffff || !Number.isSafeInteger(entry.startOffset)) throw new CheckpointFormatError(`line ${i + 1}: '${lines[i]}' is out of range`);
    if (prev && (entry.epoch <= prev.epoch || entry.startOffset <= prev.startOffset)) {
      throw new CheckpointFormatError(`line ${i + 1}: '${lines[i]}' does not follow '${prev.epoch} ${prev.startOffset}' (both must increase)`);
    }
    out.push(entry);
  }
  return out;
}

/** Reads the checkpoint in `dir`: null when there is none; throws CheckpointFormatError when it does not parse. */
export async function readCheckpoint(dir: string, fs: FileSystem): Promise<EpochEntry[] | null> {
  const text = await readOptionalText(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), fs);
  return text === null ? null : parseCheckpoint(text);
}

export async function writeCheckpoint(dir: string, entries: readonly EpochEntry[], fs: FileSystem): Promise<void> {
  await writeFileAtomic(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), formatCheckpoint(entries), fs);
}

/**
 * The cache as the stored batches say it: the first batch of each epoch starts it (batches
 * with no epoch, -1, are skipped). Walks headers only (no CRC), every segment in order.
 */
export async function epochsFromSegments(segments: readonly Segment[]): Promise<LeaderEpochCache> {
  const cache = new LeaderEpochCache();
  for (const s of segments) {
    await s.withFile((fh) => scanBatches(fh, 0, s.size, false, (buf, off) => {
      const epoch = buf.readInt32BE(off + PARTITION_LEADER_EPOCH);
      if (epoch >= 0) cache.assign(epoch, readInt64(buf, off + BASE_OFFSET));
      return true;
    }));
  }
  return cache;
}
