/**
 * Frame codec. One WebSocket binary message = one frame = one msgpack map (see api.ts for
 * the shapes). Both ends use the same Packr options so they agree byte for byte:
 *
 *   useRecords: false      plain msgpack maps; no shared structure table to keep in sync
 *                          between broker and client (records would save ~30 bytes a frame,
 *                          which is noise next to a batch, and add a stateful handshake).
 *   int64AsType: 'number'  offsets and ms timestamps stay numbers (exact to 2^53).
 *   Buffer / Uint8Array    travel as msgpack bin and decode as Buffer views of the frame.
 *
 * Pure: no I/O. `encodeFrame` returns a view of msgpackr's output buffer; msgpackr never
 * rewrites bytes it has handed out, so the view stays valid while a socket queues it.
 */
import { Packr } from 'msgpackr';
import { FrameError, CLOSE_INVALID_PAYLOAD } from './frame-error.js';
import { checkFrameLimits, type FrameLimits } from './frame-limits.js';

const packr = new Packr({ useRecords: false, int64AsType: 'number', mapsAsObjects: true });

export function encodeFrame(msg: object): Buffer {
  return packr.pack(msg);
}

/**
 * Decodes one frame into a plain object. Throws FrameError (close code 1007) when the
 * bytes are not exactly one msgpack map; the caller closes the connection, because a
 * peer that sends garbage cannot be trusted to read an error response either.
 * With `limits` (the broker, for requests) the msgpack structure is checked first
 * (frame-limits.ts) and a frame past a cap throws FrameError 1009 before msgpackr runs.
 */
export function decodeFrame(buf: Uint8Array, limits?: FrameLimits): Record<string, unknown> {
  if (limits) checkFrameLimits(buf, limits);
  let msg: unknown;
  try {
    msg = packr.unpack(buf);
  } catch (err) {
    throw new FrameError(CLOSE_INVALID_PAYLOAD, `undecodable frame: ${(err as Error).message}`);
  }
  // A plain-object check also refuses msgpackr's stand-ins for reserved bytes (0xc1 -> C1Type).
  if (msg === null || typeof msg !== 'object' || Object.getPrototypeOf(msg) !== Object.prototype) {
    throw new FrameError(CLOSE_INVALID_PAYLOAD, 'a frame must be a msgpack map');
  }
  return msg as Record<string, unknown>;
}
