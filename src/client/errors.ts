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

/**
 * No response within the request's deadline. `sent` false: its frame never reached the
 * broker (`unsent` says what it waited for) and never will, so sending it again cannot apply
 * it twice; true: it went out and may still have been applied.
 */
export class RequestTimeoutError extends SluiceError {
  readonly sent: boolean;
  constructor(readonly url: string, readonly api: number, readonly timeoutMs: number, unsent?: string) {
    super('REQUEST_TIMED_OUT', unsent === undefined
      ? `no response from ${url} to api ${api} within ${timeoutMs} ms`
      : `api ${api} request to ${url} not sent within its ${timeoutMs} ms: ${unsent}`);
    this.sent = unsent === undefined;
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
