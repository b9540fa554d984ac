/**
 * The producer side of delayed and scheduled jobs: `delayMs` / `deliverAt` on a message
 * become the `sluice.deliver.at` header (record/delivery-time.ts) that share groups honour.
 * Plain consumers see the header and the record at once; only queue mode waits.
 */
import { DELIVER_AT_HEADER, MAX_DELIVERY_DELAY_MS, deliverAtHeaderValue } from '../record/index.js';
import { InvalidArgumentError } from './errors.js';
import type { ProducerMessage } from './types.js';

/** True when the message asks for a delivery time. */
export function wantsDeliverAt(m: ProducerMessage): boolean {
  return m.delayMs !== undefined || m.deliverAt !== undefined;
}

/**
 * A copy of message `i` with the header for its delivery time (the caller's object is not
 * changed). Refuses both fields at once, a negative or non-finite delay, and a time more
 * than MAX_DELIVERY_DELAY_MS (30 days) ahead, naming the message and the field.
 */
export function withDeliverAt(m: ProducerMessage, i: number, now: number): ProducerMessage {
  if (m.delayMs !== undefined && m.deliverAt !== undefined) throw new InvalidArgumentError(`message ${i}: set delayMs or deliverAt, not both`);
  let at: number;
  if (m.delayMs !== undefined) {
    if (typeof m.delayMs !== 'number' || !Number.isFinite(m.delayMs) || m.delayMs < 0) {
      throw new InvalidArgumentError(`message ${i}: delayMs must be a non-negative number of ms, got ${String(m.delayMs)}`);
    }
    at = now + m.delayMs;
  } else {
    const d = m.deliverAt;
    at = d instanceof Date ? d.getTime() : (d as number);
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) {
      throw new InvalidArgumentError(`message ${i}: deliverAt must be a Date or epoch ms, got ${String(d)}`);
    }
  }
  if (at - now > MAX_DELIVERY_DELAY_MS) {
    throw new InvalidArgumentError(`message ${i}: delivery time ${new Date(at).toISOString()} is more than ${MAX_DELIVERY_DELAY_MS / 86_400_000} days ahead (the most a job may wait)`);
  }
  const headers = [...(m.headers ?? []).filter((h) => h.key !== DELIVER_AT_HEADER), { key: DELIVER_AT_HEADER, value: deliverAtHeaderValue(at) }];
  const { delayMs: _d, deliverAt: _a, ...rest } = m;
  return { ...rest, headers };
}
