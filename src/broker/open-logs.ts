/**
 * The broker's one link to the storage implementation: open (and recover) every log under
 * dataDir with the configured log defaults, forwarding storage events to the broker log at
 * the level storage gives them (events.ts) and counting lost or refused data in metrics.
 */
import { openLogManager, type LogManagerOptions } from '../storage/log-manager.js';
import { CORRUPT_READ_EVENT, DATA_LOSS_EVENTS, storageEventLevel } from '../storage/events.js';
import { OpenFileCache } from '../storage/open-file-cache.js';
import { processFileLimit, segmentFileBudget } from '../storage/file-budget.js';
import { ConfigError } from '../config/config-error.js';
import type { LogManager } from '../storage/types.js';
import type { BrokerConfig } from '../config/settings.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { Logger } from './logger.js';

export interface OpenLogsOptions {
  /** Each segment fsync's duration, for the fsync histogram. */
  onFsync?: (seconds: number) => void;
  /** Counts corrupt reads and records lost in recovery. */
  metrics?: BrokerMetrics;
  /** The budget of open segment files (openFileBudget); unbounded when absent. */
  openFiles?: OpenFileCache;
}

export function openLogs(config: BrokerConfig, log: Logger, opts: OpenLogsOptions = {}): Promise<LogManager> {
  return openLogManager(config.dataDir, config.log, storageOptions(config, log, opts));
}

/**
 * What the broker opens partition logs with: the file-backed manager here, and in cluster
 * mode the placed manager of the data topics too (server.ts), so a storage setting reaches
 * both. The cluster's once had a list of its own, without producerIdExpirationMs.
 */
export function storageOptions(config: BrokerConfig, log: Logger, opts: OpenLogsOptions = {}): LogManagerOptions {
  return {
    logger: storageLogger(log, opts.metrics), ...(opts.onFsync && { onFsync: opts.onFsync }), producerIdExpirationMs: config.producerIdExpirationMs,
    ...(opts.openFiles && { openFiles: opts.openFiles }),
  };
}

/**
 * The broker's one LRU of open segment files, sized by maxOpenSegmentFiles and the process's
 * file limit (storage/file-budget.ts). A setting that does not fit under the limit stops
 * start-up (ConfigError naming both); a low limit is logged as a warning.
 */
export function openFileBudget(config: BrokerConfig, log: Logger, limit = processFileLimit()): OpenFileCache {
  let budget;
  try {
    budget = segmentFileBudget(config.maxOpenSegmentFiles, limit);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (budget.warning !== undefined) log.warn('storage.file-limit.low', { limit, maxOpenSegmentFiles: budget.capacity, message: budget.warning });
  log.info('storage.file-budget', { limit, maxOpenSegmentFiles: budget.capacity });
  return new OpenFileCache(budget.capacity);
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
