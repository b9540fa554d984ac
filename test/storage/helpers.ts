import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBatch, decodeBatches } from '../../src/record/index.js';

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
