/**
 * Reading a generation back at start-up: every record, in offset order, a batch at a time.
 */
import { decodeBatches, type DecodedRecord } from '../record/index.js';
import type { GenerationLog } from './generation-log.js';

const READ_BYTES = 1 << 20;

/**
 * Every record of `log`, from its start to its end, in offset order (for replay at
 * start-up), a batch at a time: one await per batch, not per record.
 */
export async function* recordsOf(log: GenerationLog): AsyncGenerator<DecodedRecord[]> {
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { bytes } = await log.read(offset, READ_BYTES);
    if (bytes.length === 0) return;
    for (const batch of decodeBatches(bytes)) {
      const from = offset;
      yield batch.records[0]?.offset >= from ? batch.records : batch.records.filter((r) => r.offset >= from);
      offset = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
    }
  }
}
