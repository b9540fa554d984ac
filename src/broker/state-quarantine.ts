/**
 * What the broker does with a state log record that replay skips (CompactedLog's
 * onBadRecord): log it at error with where it was, count it in
 * sluice_state_records_skipped_total{log}, and copy it to `<data-dir>/quarantine.jsonl`
 * (storage/quarantine-file.ts). Only a record that reached the quarantine file durably is
 * reported as kept, which is what lets the store compact it away; if the copy fails, the
 * record stays in the log and is skipped again on the next start.
 */
import type { BadStateRecord } from '../state-log/compacted-log.js';
import type { BrokerMetrics, StateLogName } from '../metrics/broker-metrics.js';
import { appendQuarantine } from '../storage/quarantine-file.js';
import type { Logger } from './logger.js';

export function quarantineSkipped(
  dataDir: string, which: StateLogName, topicPrefix: string, log: Logger, metrics: BrokerMetrics,
): (r: BadStateRecord) => Promise<boolean> {
  return async (r) => {
    metrics.stateRecordSkipped(which);
    const topic = `${topicPrefix}-${r.generation}`;
    const where = { log: which, topic, partition: 0, offset: r.offset, reason: r.error.message };
    try {
      const file = await appendQuarantine(dataDir, { topic, partition: 0, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, reason: r.error.message });
      log.error('state log record skipped', { ...where, quarantine: file });
      return true;
    } catch (err) {
      log.error('state log record skipped', { ...where, quarantineError: err });
      return false;
    }
  };
}
