import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BATCH_LENGTH, LOG_OVERHEAD, PARTITION_LEADER_EPOCH, encodeBatch, decodeBatch, decodeBatches } from '../../src/record/index.js';
import type { PartitionLog } from '../../src/storage/types.js';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-storage-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A batch of `n` records whose values name their position: `v<seq>` where seq counts up across calls. */
export function batchOf(n: number, seq: number, now = 1_700_000_000_000, pad = 0): Buffer {
  const recs = [];
  for (let i = 0; i < n; i++) recs.push({ value: `v${seq + i}${'x'.repeat(pad)}`, timestamp: now + seq + i });
  return encodeBatch(recs, { now });
}

/** Offsets and values of every record in `bytes`. */
export function recordsIn(bytes: Buffer): { offset: number; value: string }[] {
  const out: { offset: number; value: string }[] = [];
  for (const b of decodeBatches(bytes)) for (const r of b.records) out.push({ offset: r.offset, value: r.value!.toString().replace(/x+$/, '') });
  return out;
}

/** File positions of the batches in a segment file. */
export async function batchStarts(path: string): Promise<number[]> {
  const b = await readFile(path);
  const out: number[] = [];
  for (let p = 0; p < b.length; p += b.readInt32BE(p + BATCH_LENGTH) + LOG_OVERHEAD) out.push(p);
  return out;
}

/** Flips the bits of `mask` in the byte at `at` of a file: damage as a disk would do it. */
export async function xorByte(path: string, at: number, mask: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    one[0] ^= mask;
    await fh.write(one, 0, 1, at);
  } finally {
    await fh.close();
  }
}

export interface StoredBatch { base: number; epoch: number; values: string[] }

/** The batches in `bytes` (whole stored batches): base offset, partitionLeaderEpoch, record values. */
export function batchesIn(bytes: Buffer): StoredBatch[] {
  const out: StoredBatch[] = [];
  for (let p = 0; p < bytes.length; p += bytes.readInt32BE(p + BATCH_LENGTH) + LOG_OVERHEAD) {
    const b = decodeBatch(bytes, p);
    out.push({ base: b.header.baseOffset, epoch: bytes.readInt32BE(p + PARTITION_LEADER_EPOCH), values: b.records.map((r) => r.value!.toString()) });
  }
  return out;
}

/** Every stored batch of a log from the one holding `from` (default: the log start) to the end. */
export async function storedBatches(log: PartitionLog, from = log.logStartOffset): Promise<StoredBatch[]> {
  const out: StoredBatch[] = [];
  let at = from;
  while (at < log.logEndOffset) {
    const got = batchesIn((await log.read(at, 1 << 20)).bytes);
    out.push(...got);
    const last = got[got.length - 1];
    at = last.base + last.values.length;
  }
  return out;
}

/** The leader-epoch entries the stored batches imply: each epoch's first batch (epoch -1 skipped). */
export function epochRuns(batches: { base: number; epoch: number }[]): { epoch: number; startOffset: number }[] {
  const out: { epoch: number; startOffset: number }[] = [];
  for (const b of batches) if (b.epoch >= 0 && (out.length === 0 || out[out.length - 1].epoch < b.epoch)) out.push({ epoch: b.epoch, startOffset: b.base });
  return out;
}
