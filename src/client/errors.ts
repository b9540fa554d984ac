/**
 * Errors the client raises itself (wire errors arrive as BrokerError from
 * src/protocol/errors.ts). Codes that also exist in the wire table use that name so an
 * application can branch on `err.code` without caring where the error was raised.
 */
import { SluiceError } from '../errors.js';

/** The connection failed or dropped. Retriable: the connection reconnects on its own. */
export class NetworkError extends SluiceError {
  constructor(readonly url: string, message: string, options?: ErrorOptions) {
    super('NETWORK_ERROR', message, options);
  }
}

/** No response within the request timeout. The request may still have been applied. */
export class RequestTimeoutError extends SluiceError {
  constructor(readonly url: string, readonly api: number, readonly timeoutMs: number) {
    super('REQUEST_TIMED_OUT', `no response from ${url} to api ${api} within ${timeoutMs} ms`);
  }
}

/** The client was closed; the operation will never complete. */
export class ClientClosedError extends SluiceError {
  constructor(what: string) {
    super('CLIENT_CLOSED', `${what} is closed`);
  }
}

/** Bad arguments from the application (not retriable, nothing was sent). */
export class InvalidArgumentError extends SluiceError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/**
 * A request larger than the broker accepts: refused before sending, by the limits the
 * broker announced (or the producer's own), or after the broker closed the connection with
 * 1009. Not retriable: the same request fails the same way. `limit` names the setting
 * (`maxFrameBytes`, `maxBatchBytes`, `maxRequestMsgpackBytes`), `limitBytes` its value
 * (-1 when unknown) and `size` the bytes that broke it (-1 when unknown).
 */
export class MessageTooLargeError extends SluiceError {
  constructor(message: string, readonly limit: string, readonly limitBytes: number, readonly size: number) {
    super('MESSAGE_TOO_LARGE', message);
  }
}
