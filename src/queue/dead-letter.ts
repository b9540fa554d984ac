/**
 * The record the broker appends to a dead-letter topic: the original key, value, headers
 * and timestamp, plus headers that say where it came from and why it died. Header values
 * are utf-8 text (numbers in decimal) so any consumer or CLI can read them.
 *
 *   sluice.dlq.group           share group that gave up on it
 *   sluice.dlq.topic           original topic
 *   sluice.dlq.partition       original partition
 *   sluice.dlq.offset          original offset
 *   sluice.dlq.delivery-count  delivery attempts made
 *   sluice.dlq.cause           rejected | max-deliveries
 *   sluice.dlq.reason          last reason a worker gave, or 'lock expired' / 'worker gone'
 *
 * Original headers with a `sluice.dlq.` name are dropped first, so a record dead-lettered
 * twice (a DLQ read by another share group) carries one set, the latest.
 */
import type { DecodedRecord, RecordHeader, RecordInput } from '../record/index.js';
import type { DeadLetter } from './types.js';

export const DLQ_HEADER_PREFIX = 'sluice.dlq.';
export const DLQ_HEADERS = {
  group: 'sluice.dlq.group',
  topic: 'sluice.dlq.topic',
  partition: 'sluice.dlq.partition',
  offset: 'sluice.dlq.offset',
  deliveryCount: 'sluice.dlq.delivery-count',
  cause: 'sluice.dlq.cause',
  reason: 'sluice.dlq.reason',
} as const;

/** Longest reason kept (utf-16 units); a worker's stack trace must not bloat the DLQ. */
export const MAX_REASON_LENGTH = 1024;

export function deadLetterRecord(original: Pick<DecodedRecord, 'key' | 'value' | 'headers' | 'timestamp'>, dl: DeadLetter): RecordInput {
  const headers: RecordHeader[] = [];
  for (const h of original.headers) if (!h.key.startsWith(DLQ_HEADER_PREFIX)) headers.push({ key: h.key, value: h.value });
  headers.push(
    { key: DLQ_HEADERS.group, value: dl.group },
    { key: DLQ_HEADERS.topic, value: dl.topic },
    { key: DLQ_HEADERS.partition, value: String(dl.partition) },
    { key: DLQ_HEADERS.offset, value: String(dl.offset) },
    { key: DLQ_HEADERS.deliveryCount, value: String(dl.deliveryCount) },
    { key: DLQ_HEADERS.cause, value: dl.cause },
    { key: DLQ_HEADERS.reason, value: dl.reason.slice(0, MAX_REASON_LENGTH) },
  );
  return { key: original.key, value: original.value, headers, timestamp: original.timestamp };
}

/** Reads the DLQ headers back (for `sluice queue` tooling and tests); undefined when absent. */
export function readDeadLetterHeaders(headers: readonly { key: string; value: Buffer | Uint8Array | string | null }[]): Record<keyof typeof DLQ_HEADERS, string> | undefined {
  const out: Partial<Record<keyof typeof DLQ_HEADERS, string>> = {};
  for (const [field, name] of Object.entries(DLQ_HEADERS) as [keyof typeof DLQ_HEADERS, string][]) {
    const h = headers.find((x) => x.key === name);
    if (!h || h.value === null) return undefined;
    out[field] = typeof h.value === 'string' ? h.value : Buffer.from(h.value).toString('utf8');
  }
  return out as Record<keyof typeof DLQ_HEADERS, string>;
}
