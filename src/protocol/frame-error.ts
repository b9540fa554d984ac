/**
 * A frame the broker cannot answer: it is not one msgpack map, has no readable id, or is
 * too big. The connection is closed with `closeCode` and the message as the close reason
 * (WebSocket close reasons are capped at 123 bytes, so the message is trimmed on send).
 */
import { SluiceError } from '../errors.js';

/** RFC 6455 close codes the broker uses. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001; //       broker shutting down
export const CLOSE_UNSUPPORTED_DATA = 1003; // text frame
export const CLOSE_INVALID_PAYLOAD = 1007; //  not msgpack, or not a map
export const CLOSE_POLICY_VIOLATION = 1008; // a map without a readable request id
export const CLOSE_TOO_BIG = 1009; //          larger than maxFrameBytes (ws closes by itself)
export const CLOSE_INTERNAL_ERROR = 1011; //   the broker failed on this frame (a bug; logged)
export const CLOSE_TRY_AGAIN_LATER = 1013; //  refused at open: a connection limit (the reason names it)
/** Private-use code (RFC 6455 4000-4999): closed after connectionsMaxIdleMs; the client reconnects when next used, not at once. */
export const CLOSE_IDLE = 4000;

export class FrameError extends SluiceError {
  constructor(readonly closeCode: number, message: string) {
    super('INVALID_REQUEST', message);
  }
}
