/**
 * The logger shape the broker's libraries take (cluster membership, replication): one event
 * name plus fields, as the broker's own Logger (src/broker/logger.ts) has it, so the broker
 * hands its logger in as it is. A library is silent unless handed one.
 */
export interface EventLogger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => {};

export const SILENT_EVENT_LOGGER: EventLogger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
