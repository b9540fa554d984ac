/**
 * The client library is silent unless handed a logger; the CLI is an application and
 * wants the client's diagnostics (offset resets, reconnects, group changes) on stderr, one
 * line each, as `<prefix>: <message>`. Debug lines are left out.
 */
import type { Logger, LogFn } from '../client/logger.js';

export function stderrLogger(prefix: string): Logger {
  const line: LogFn = (fieldsOrMsg, msg) => {
    process.stderr.write(`${prefix}: ${typeof fieldsOrMsg === 'string' ? fieldsOrMsg : String(msg)}\n`);
  };
  return { debug: () => {}, info: line, warn: line, error: line };
}
