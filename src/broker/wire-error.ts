/**
 * The one place local errors become wire errors. A SluiceError crosses by its code (the
 * table name); anything else is a bug or an unexpected I/O failure, so it is logged with
 * its stack and answered as UNKNOWN_SERVER_ERROR without leaking internals.
 */
import { SluiceError } from '../errors.js';
import { ERRORS, toWireError, type WireErrorName, type WireError } from '../protocol/errors.js';
import type { Logger } from './logger.js';

export function wireError(err: unknown, log: Logger, context?: Record<string, unknown>): WireError {
  if (err instanceof SluiceError && err.code in ERRORS) return toWireError(err);
  log.error('unexpected error', { ...context, error: err, stack: (err as Error)?.stack });
  return { code: ERRORS.UNKNOWN_SERVER_ERROR.code, message: 'the broker failed unexpectedly; see its log' };
}

/** A wire error by table name, with a specific message. */
export function errorOf(name: WireErrorName, message?: string, data?: Record<string, unknown>): WireError {
  return { code: ERRORS[name].code, message: message ?? ERRORS[name].message, ...(data ? { data } : {}) };
}
