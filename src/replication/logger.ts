/**
 * Where replication's diagnostics go: one event name plus fields, the shape of the broker's
 * logger (src/broker/logger.ts), which fits as it is. Silent unless one is handed in.
 */
export interface ReplicationLogger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => {};

export const SILENT_REPLICATION_LOGGER: ReplicationLogger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
