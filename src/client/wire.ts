/**
 * Frame encoding used by the client until src/protocol ships its codec: one msgpackr map
 * per WebSocket binary message (see src/protocol/api.ts). Binary fields decode as Buffer
 * views into the received frame, so fetched record bytes are not copied.
 */
import { Packr } from 'msgpackr';

const packr = new Packr();

export function encodeFrame(msg: object): Buffer {
  return packr.pack(msg);
}

export function decodeFrame(buf: Uint8Array): unknown {
  return packr.unpack(buf);
}
