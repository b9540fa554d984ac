/**
 * Walks the batches of a segment file in large reads (one syscall per CHUNK, not per
 * batch): recovery, index rebuild and timestamp search all need to visit batch headers
 * in order. A batch larger than a chunk is read on its own.
 */
import type { StorageFile } from './file-system.js';
import { BATCH_LENGTH, HEADER_SIZE, LAST_OFFSET_DELTA, LOG_OVERHEAD } from '../record/index.js';

const CHUNK = 4 * 1024 * 1024;

/** Called per batch with a buffer holding at least its header (the whole batch when `whole`). Return false to stop. */
export type BatchVisitor = (buf: Buffer, off: number, filePos: number, size: number) => boolean;

export interface ScanResult {
  /** File position where the walk stopped: `end`, the first unreadable batch, or the batch the visitor refused. */
  pos: number;
  /** Why it stopped. `torn`: fewer bytes than a header, or a length that is too small or runs past `end`. */
  stop: 'end' | 'torn' | 'visitor';
}

export async function readFully(fh: StorageFile, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  let done = 0;
  while (done < len) {
    const { bytesRead } = await fh.read(buf, off + done, len - done, pos + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

export async function scanBatches(
  fh: StorageFile, from: number, end: number, whole: boolean, visit: BatchVisitor, chunkSize = CHUNK,
): Promise<ScanResult> {
  let buf: Buffer | null = null;
  let pos = from;
  while (pos < end) {
    const want = Math.min(chunkSize, end - pos);
    if (!buf) buf = Buffer.allocUnsafe(Math.min(chunkSize, end - from));
    const n = await readFully(fh, buf, 0, want, pos);
    if (n < want) return { pos, stop: 'torn' }; // file shorter than we were told
    let off = 0;
    for (;;) {
      const at = pos + off;
      if (at >= end) return { pos: end, stop: 'end' };
      if (end - at < HEADER_SIZE) return { pos: at, stop: 'torn' };
      if (n - off < LOG_OVERHEAD) break;
      const size = buf.readInt32BE(off + BATCH_LENGTH) + LOG_OVERHEAD;
      if (size < HEADER_SIZE || at + size > end) return { pos: at, stop: 'torn' };
      const need = whole ? size : HEADER_SIZE;
      if (n - off < need) {
        if (off > 0) break; // re-read from this batch
        // The batch alone is larger than a chunk.
        const big = Buffer.allocUnsafe(need);
        if (await readFully(fh, big, 0, need, at) < need) return { pos: at, stop: 'torn' };
        if (!visit(big, 0, at, size)) return { pos: at, stop: 'visitor' };
        off = size;
        break;
      }
      if (!visit(buf, off, at, size)) return { pos: at, stop: 'visitor' };
      off += size;
      if (off >= n) break;
    }
    pos += off;
  }
  return { pos: Math.max(pos, from), stop: 'end' };
}

/**
 * Records in the batches of `[from, end)` as their headers say (lastOffsetDelta + 1 each),
 * walking by length without checking CRCs: what recovery is about to drop. A torn last batch
 * counts when its header is whole. A length that cannot be right ends the walk, so the count
 * is a lower bound when the damage hit a length.
 */
export async function countRecords(fh: StorageFile, from: number, end: number): Promise<number> {
  let records = 0;
  const add = (buf: Buffer, off: number) => {
    const delta = buf.readInt32BE(off + LAST_OFFSET_DELTA);
    if (delta >= 0) records += delta + 1;
    return true;
  };
  const r = await scanBatches(fh, from, end, false, add, 256 * 1024);
  if (r.stop === 'torn' && end - r.pos >= HEADER_SIZE) {
    const head = Buffer.allocUnsafe(HEADER_SIZE);
    if (await readFully(fh, head, 0, HEADER_SIZE, r.pos) === HEADER_SIZE && head.readInt32BE(BATCH_LENGTH) + LOG_OVERHEAD >= HEADER_SIZE) add(head, 0);
  }
  return records;
}
