/**
 * The broker's one link to the storage implementation: open (and recover) every log under
 * dataDir with the configured log defaults, forwarding storage events to the broker log at
 * the level storage gives them (events.ts) and counting lost or refused data in metrics.
 */
import { openLogManager } from '../storage/log-manager.js';
import { CORRUPT_READ_EVENT, DATA_LOSS_EVENTS, storageEventLevel } from '../storage/events.js';
import type { LogManager } from '../storage/types.js';
import type { BrokerConfig } from '../config/settings.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { Logger } from './logger.js';

export interface OpenLogsOptions {
  /** Each segment fsync's duration, for the fsync histogram. */
  onFsync?: (seconds: number) => void;
  /** Counts corrupt reads and records lost in recovery. */
  metrics?: BrokerMetrics;
}

export function openLogs(config: BrokerConfig, log: Logger, opts: OpenLogsOptions = {}): Promise<LogManager> {
  return openLogManager(config.dataDir, config.log, {
    logger: storageLogger(log, opts.metrics), ...(opts.onFsync && { onFsync: opts.onFsync }), producerIdExpirationMs: config.producerIdExpirationMs,
  });
}

/** Storage events to the broker log at the level storage gives them, lost or refused data counted in metrics. */
export function storageLogger(log: Logger, metrics?: BrokerMetrics): (event: string, fields: Record<string, unknown>) => void {
  return (event: string, fields: Record<string, unknown>) => {
    log[storageEventLevel(event)](event, fields);
    if (!metrics) return;
    const topic = String(fields.topic);
    if (event === CORRUPT_READ_EVENT) metrics.corruptRead(topic);
    else if (DATA_LOSS_EVENTS.includes(event)) metrics.recoveryDropped(topic, Number(fields.droppedBytes) || 0, Number(fields.droppedRecords) || 0);
  };
}
