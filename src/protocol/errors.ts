/**
 * The wire side of the error table (ERRORS, in src/errors.ts): a wire number back to its
 * name, a local error to the error object a response carries, and the BrokerError a client
 * raises for it.
 *
 * A local error (SluiceError subclass) crosses the wire as the entry whose name equals its
 * `code`; the client turns a wire error back into a SluiceError with the same code.
 */
import { ERRORS, SluiceError, type ErrorSpec, type WireErrorName } from '../errors.js';

// The table itself lives in src/errors.ts (no imports), so SluiceError can type its code
// and read `retriable` from it; this module adds the wire mapping.
export { ERRORS, type ErrorName, type ErrorSpec, type WireErrorName } from '../errors.js';

const BY_CODE = new Map<number, WireErrorName>(Object.entries(ERRORS).map(([name, spec]) => [spec.code, name as WireErrorName]));

/** Name of a wire code; unknown numbers map to UNKNOWN_RETRIABLE (a newer broker's error). */
export function errorName(code: number): WireErrorName {
  return BY_CODE.get(code) ?? 'UNKNOWN_RETRIABLE';
}

/** Wire number of a local error code; a code not in the table is UNKNOWN_SERVER_ERROR. */
export function errorCode(name: string): number {
  return (ERRORS as Record<string, ErrorSpec>)[name]?.code ?? ERRORS.UNKNOWN_SERVER_ERROR.code;
}

/** The error object that travels in a response: code plus a human message with context. */
export interface WireError {
  code: number;
  message: string;
  /** Extra context (e.g. the valid offset range for OFFSET_OUT_OF_RANGE). */
  data?: Record<string, unknown>;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof SluiceError && err.code in ERRORS) {
    const data: Record<string, unknown> = {};
    for (const k of ['logStartOffset', 'logEndOffset', 'offset', 'topic', 'partition'] as const) {
      const v = (err as unknown as Record<string, unknown>)[k];
      if (v !== undefined) data[k] = v;
    }
    return { code: errorCode(err.code), message: err.message, ...(Object.keys(data).length ? { data } : {}) };
  }
  return { code: ERRORS.UNKNOWN_SERVER_ERROR.code, message: err instanceof Error ? err.message : String(err) };
}

/** The error a client raises for a wire error: a SluiceError whose code is the table name. */
export class BrokerError extends SluiceError {
  constructor(readonly wireCode: number, message: string, readonly data?: Record<string, unknown>) {
    const name = errorName(wireCode);
    super(name, message || ERRORS[name].message);
  }
}

export function fromWireError(e: WireError): BrokerError {
  return new BrokerError(e.code, e.message, e.data);
}
