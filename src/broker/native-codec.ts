/**
 * Sluice's own wire format as the request pipeline sees it (docs/protocol.md): a frame is
 * one msgpack map, structure-checked before decoding (protocol/frame-limits.ts), then
 * parsed into a typed request; responses are encoded as parts so that fetched records go
 * out by reference (protocol/frame-parts.ts). A Kafka-protocol listener would hand the
 * pipeline a codec of its own for the same requests.
 */
import { decodeFrameFragments, encodeFrameParts } from '../protocol/frame-parts.js';
import { MAX_REQUEST_DEPTH, MAX_REQUEST_VALUES, type FrameLimits } from '../protocol/frame-limits.js';
import { parseRequest, type Request } from '../protocol/parse-request.js';

export interface FrameCodec {
  /** The frame as a map; throws FrameError (the connection is closed with its code). */
  decode(parts: Buffer[]): Record<string, unknown>;
  /** The request in a decoded frame; throws RequestError (answered, the connection stays). */
  parse(frame: Record<string, unknown>): Request;
  /** A response or push as the parts of one frame. */
  encode(msg: object): Uint8Array[];
}

export function nativeCodec(maxRequestMsgpackBytes: number): FrameCodec {
  const limits: FrameLimits = { maxMsgpackBytes: maxRequestMsgpackBytes, maxValues: MAX_REQUEST_VALUES, maxDepth: MAX_REQUEST_DEPTH };
  return {
    decode: (parts) => decodeFrameFragments(parts, limits),
    parse: parseRequest,
    encode: encodeFrameParts,
  };
}
