/**
 * `sluice topic verify`: checks every batch a partition stores, CRC included, and reports
 * each problem with its segment, byte position and offset. The broker runs it on its open
 * logs (DiskPartitionLog.verify, the VerifyTopic api); the CLI runs it offline on a data
 * dir (verify-data-dir.ts), opening files read-only so nothing on disk changes.
 *
 * Per batch: length (at least a header, inside the file), magic, CRC-32C, record count
 * against last offset delta, compression (validateBatch), and a base offset that continues
 * the previous batch. Per segment: its base offset continues the previous segment. A batch
 * whose length is sound is stepped over after a problem, so one flipped bit does not hide
 * the rest of the segment; a bad length ends the walk of that segment.
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageFile } from './file-system.js';
import { BASE_OFFSET, LAST_OFFSET_DELTA, readInt64, validateBatch } from '../record/index.js';
import { CorruptBatchError } from '../errors.js';
import { StorageError } from './errors.js';
import { scanBatches } from './scan-batches.js';
import { LOG_SUFFIX, SEGMENT_FILE, segmentFileName } from './segment.js';

/** Problems kept per partition; a report of a wrecked partition stays small, `problemCount` has them all. */
export const MAX_REPORTED_PROBLEMS = 100;

export interface VerifyProblem {
  /** Base offset of the segment (its file name). */
  segment: number;
  /** Byte position in the segment's .log file. */
  position: number;
  /** Offset the bad batch should start at. */
  offset: number;
  reason: string;
}

export interface PartitionVerifyReport {
  segments: number;
  batches: number;
  records: number;
  bytes: number;
  /** The first MAX_REPORTED_PROBLEMS problems. */
  problems: VerifyProblem[];
  problemCount: number;
}

export function emptyReport(): PartitionVerifyReport {
  return { segments: 0, batches: 0, records: 0, bytes: 0, problems: [], problemCount: 0 };
}

function problem(r: PartitionVerifyReport, p: VerifyProblem): void {
  r.problemCount++;
  if (r.problems.length < MAX_REPORTED_PROBLEMS) r.problems.push(p);
}

/**
 * Checks `[0, size)` of one segment file whose first batch must start at `expected` (its
 * base offset); adds to `report` and returns the offset after the segment's last batch.
 */
export async function verifySegment(fh: StorageFile, baseOffset: number, size: number, report: PartitionVerifyReport): Promise<number> {
  let expected = baseOffset;
  report.segments++;
  const r = await scanBatches(fh, 0, size, true, (buf, off, pos, bytes) => {
    const base = readInt64(buf, off + BASE_OFFSET);
    const at = { segment: baseOffset, position: pos, offset: expected };
    if (base !== expected) problem(report, { ...at, reason: `base offset ${base}, expected ${expected}` });
    try {
      validateBatch(buf, off, off + bytes);
    } catch (err) {
      if (!(err instanceof CorruptBatchError)) throw err;
      problem(report, { ...at, reason: err.message.replace(/^batch at \d+: /, '') });
    }
    const records = Math.max(buf.readInt32BE(off + LAST_OFFSET_DELTA), 0) + 1;
    report.batches++;
    report.records += records;
    report.bytes += bytes;
    expected += records;
    return true;
  });
  if (r.stop === 'torn') {
    problem(report, {
      segment: baseOffset, position: r.pos, offset: expected,
      reason: `batch length unreadable or past the end of the segment; ${size - r.pos} bytes from here cannot be walked`,
    });
  }
  return expected;
}

/** The next segment must start where the previous one ended. */
export function checkSegmentStart(report: PartitionVerifyReport, baseOffset: number, expected: number | null): void {
  if (expected !== null && baseOffset !== expected) {
    problem(report, { segment: baseOffset, position: 0, offset: expected, reason: `segment starts at offset ${baseOffset}, the previous one ends before ${expected}` });
  }
}

/** Verifies one partition directory offline: every `<base>.log`, opened read-only. */
export async function verifyPartitionDir(dir: string): Promise<PartitionVerifyReport> {
  const report = emptyReport();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new StorageError(`cannot read partition directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const bases = names.map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
  let next: number | null = null;
  for (const base of bases) {
    checkSegmentStart(report, base, next);
    const fh = await open(join(dir, segmentFileName(base, LOG_SUFFIX)), 'r');
    try {
      next = await verifySegment(fh, base, (await fh.stat()).size, report);
    } finally {
      await fh.close();
    }
  }
  return report;
}
