import type { Logger } from '../../src/client/index.js';

/**
 * A client logger that hands every diagnostic, at any level, to `write` as its message text:
 * for tests that match on what a client said (and for fixtures that pass it to stderr).
 */
export function lineLogger(write: (line: string) => void): Logger {
  const line = (fieldsOrMsg: object | string, msg?: unknown): void => write(typeof fieldsOrMsg === 'string' ? fieldsOrMsg : String(msg));
  return { debug: line, info: line, warn: line, error: line };
}
