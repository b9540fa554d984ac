/**
 * `<data-dir>/quarantine.jsonl`: records the broker would not apply, kept for forensics. A
 * state log (committed offsets, share state) skips a record it cannot replay rather than
 * refuse to start; the record is copied here first, and only then may the log be compacted
 * without it. Append-only, one JSON object per line, never read by the broker:
 *
 *   { "quarantinedAt": ISO time, "topic", "partition", "offset", "timestamp" (ms, the record's),
 *     "reason": why it was skipped,
 *     "key", "value": base64 of the record's bytes, or null }
 *
 * The name never collides with a partition directory: those always end in `-<partition>`.
 * Headers are not kept: state log records have none.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './atomic-file.js';

export const QUARANTINE_FILE = 'quarantine.jsonl';

export interface QuarantinedRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  reason: string;
}

/**
 * Appends `rec` to the data dir's quarantine file and fsyncs it (and the directory, when the
 * file is new), so the copy is durable before the caller drops the original. Returns the path.
 */
export async function appendQuarantine(dataDir: string, rec: QuarantinedRecord, now = Date.now()): Promise<string> {
  const path = join(dataDir, QUARANTINE_FILE);
  const line = JSON.stringify({
    quarantinedAt: new Date(now).toISOString(),
    topic: rec.topic,
    partition: rec.partition,
    offset: rec.offset,
    timestamp: rec.timestamp,
    reason: rec.reason,
    key: rec.key === null ? null : rec.key.toString('base64'),
    value: rec.value === null ? null : rec.value.toString('base64'),
  }) + '\n';
  const fh = await open(path, 'a');
  let created: boolean;
  try {
    created = (await fh.stat()).size === 0;
    await fh.writeFile(line);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  if (created) await syncDir(dataDir);
  return path;
}
