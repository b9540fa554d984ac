/**
 * The `replication-offset-checkpoint` file of a cluster broker's data directory: the high
 * watermark of each replicated partition this broker held a role for (leader or follower), in
 * Kafka's text layout of the same file so an operator can read it:
 *
 *   0                  version
 *   2                  number of entries
 *   orders 0 1042      topic partition highWatermark (one entry a line)
 *   orders 1 977
 *
 * Why it exists: a restarted broker used to start each partition's high watermark at the log
 * start, so a broker that came back as leader (or was elected before its first fetch from a
 * leader) answered ListOffsets LATEST with 0 until its followers fetched again. A high watermark
 * once reached stays a lower bound of what is committed (committed records are never taken
 * back), so a restarted broker may start from the checkpointed value, bounded by its log end
 * (docs/cluster.md, "Failover": high watermark across restarts).
 *
 * One file for all partitions, written every few seconds by the replica manager's
 * checkpointer and at clean shutdown, with writeFileAtomic (temp file, fsync, rename,
 * directory fsync): after a crash it is the old content or the new, never a mix. It is an
 * optimisation of a restart, not a source of truth: a file that does not parse is reported and
 * ignored (every partition then starts as without it), and a missing one is an empty one.
 */
import { join } from 'node:path';
import { topicNameProblem } from '../topic-name.js';
import { readOptionalText, writeFileAtomic } from './atomic-file.js';
import { CheckpointFormatError } from './leader-epoch-checkpoint.js';
import type { FileSystem } from './file-system.js';

export const HIGH_WATERMARK_CHECKPOINT_FILE = 'replication-offset-checkpoint';
const VERSION = 0;
const INT = /^(0|[1-9]\d{0,15})$/;

export interface HighWatermarkEntry {
  readonly topic: string;
  readonly partition: number;
  readonly highWatermark: number;
}

/** The file's text for `entries`. */
export function formatHighWatermarks(entries: readonly HighWatermarkEntry[]): string {
  let out = `${VERSION}\n${entries.length}\n`;
  for (const e of entries) out += `${e.topic} ${e.partition} ${e.highWatermark}\n`;
  return out;
}

/** Parses the file's text; throws CheckpointFormatError naming the first line that is wrong. */
export function parseHighWatermarks(text: string): HighWatermarkEntry[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== String(VERSION)) throw new CheckpointFormatError(`line 1: version '${lines[0] ?? ''}', expected ${VERSION}`);
  if (lines.length < 2 || !INT.test(lines[1]!)) throw new CheckpointFormatError(`line 2: entry count '${lines[1] ?? ''}' is not a number`);
  const count = Number(lines[1]);
  if (lines.length - 2 !== count) throw new CheckpointFormatError(`line 2: ${count} entries announced, ${lines.length - 2} present`);
  const out: HighWatermarkEntry[] = [];
  for (let i = 2; i < lines.length; i++) {
    const [topic, p, hw, extra] = lines[i]!.split(' ');
    if (extra !== undefined || topic === undefined || topicNameProblem(topic) !== undefined || !INT.test(p ?? '') || !INT.test(hw ?? '')) {
      throw new CheckpointFormatError(`line ${i + 1}: '${lines[i]}' is not 'topic partition highWatermark'`);
    }
    const e = { topic, partition: Number(p), highWatermark: Number(hw) };
    if (e.partition > 0x7fff_ffff || !Number.isSafeInteger(e.highWatermark)) throw new CheckpointFormatError(`line ${i + 1}: '${lines[i]}' is out of range`);
    out.push(e);
  }
  return out;
}

/** Reads the checkpoint of data directory `dataDir`: [] when there is none; throws CheckpointFormatError when it does not parse. */
export async function readHighWatermarks(dataDir: string, fs: FileSystem): Promise<HighWatermarkEntry[]> {
  const text = await readOptionalText(join(dataDir, HIGH_WATERMARK_CHECKPOINT_FILE), fs);
  return text === null ? [] : parseHighWatermarks(text);
}

export async function writeHighWatermarks(dataDir: string, entries: readonly HighWatermarkEntry[], fs: FileSystem): Promise<void> {
  await writeFileAtomic(join(dataDir, HIGH_WATERMARK_CHECKPOINT_FILE), formatHighWatermarks(entries), fs);
}
