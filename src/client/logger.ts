/**
 * Where the client's diagnostics go. A library must not write to its application's stderr
 * on its own, so every client object is silent unless it is handed a `logger`.
 *
 * The interface is the subset of pino's logger that the client uses, called pino's way,
 * `logger.warn({ groupId, topic }, 'text')`: a pino or bunyan logger (or a child of one) fits
 * as it is, as does `console`, and so does what KafkaJS and nats.js users already hand their
 * clients. The first argument is an object of context fields, the second the message.
 */

/** `(fields, message)` as pino takes it; a plain `(message)` call is also allowed. */
export type LogFn = (fieldsOrMsg: object | string, ...args: unknown[]) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

/** The default: says nothing. */
export const SILENT_LOGGER: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

export interface LoggerOptions {
  /** Diagnostics (reconnects, offset resets, group changes, failed acks). Default: silent. */
  logger?: Logger;
}

/** The logger a client object writes to, from its options. */
export function clientLogger(opts: LoggerOptions): Logger {
  return opts.logger ?? SILENT_LOGGER;
}

/** The message of a thrown value, for a log line. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
