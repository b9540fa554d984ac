/**
 * The broker's one link to the storage implementation: open (and recover) every log under
 * dataDir with the configured log defaults, forwarding storage events to the broker log.
 */
import { openLogManager } from '../storage/log-manager.js';
import type { LogManager } from '../storage/types.js';
import type { BrokerConfig } from '../config/settings.js';
import type { Logger } from './logger.js';

export interface OpenLogsOptions {
  /** Each segment fsync's duration, for the fsync histogram. */
  onFsync?: (seconds: number) => void;
}

export function openLogs(config: BrokerConfig, log: Logger, opts: OpenLogsOptions = {}): Promise<LogManager> {
  const logger = (event: string, fields: Record<string, unknown>) => {
    if (/failed|error/.test(event)) log.error(event, fields);
    else log.info(event, fields);
  };
  return openLogManager(config.dataDir, config.log, { logger, onFsync: opts.onFsync });
}
