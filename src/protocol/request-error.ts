/**
 * A request whose id is readable but whose content is not acceptable as a whole: unknown
 * api, unsupported version, a field of the wrong type, a negative size. The broker answers
 * `{ id, error }` and keeps the connection open; other requests on it are unaffected.
 */
import { SluiceError } from '../errors.js';

export type RequestErrorCode = 'INVALID_REQUEST' | 'UNKNOWN_API' | 'UNSUPPORTED_VERSION' | 'INVALID_REQUIRED_ACKS';

export class RequestError extends SluiceError {
  constructor(code: RequestErrorCode, readonly id: number, message: string) {
    super(code, message);
  }
}
