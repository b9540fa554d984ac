/**
 * The seam between a connection's bytes and the request pipeline (request-pipeline.ts).
 *
 * A transport moves whole frames: it cuts its byte stream into frames (WebSocket messages
 * in ws-transport.ts; a Kafka listener would cut length-prefixed frames off a TCP socket),
 * writes frames given as parts, stops and restarts reading when the pipeline applies
 * back-pressure, and reports how many bytes it holds unsent. It knows nothing of requests,
 * apis, budgets or metrics; the pipeline knows nothing of sockets, WebSocket opcodes or
 * pings. Each transport keeps its peer's liveness itself (WebSocket: ping/pong), because
 * how to ask "are you there" is a property of the wire.
 */

export interface TransportEvents {
  /**
   * One inbound frame, as the chunks it arrived in (a WebSocket message's fragments), so
   * big binary fields can be used in place instead of being concatenated.
   */
  frame(parts: Buffer[]): void;
  /** Unsent bytes went down (the socket drained): bufferedBytes is worth reading again. */
  drain(): void;
  /** The connection is gone, for whatever reason; called once, after which nothing is sent. */
  close(code: number, reason: string): void;
}

export interface Transport {
  /** `host:port` of the peer, for logs. */
  readonly remote: string;
  /** Bytes handed to send() and not yet written to the kernel. */
  readonly bufferedBytes: number;
  /** Starts delivering events; called once, by the pipeline that owns this transport. */
  bind(events: TransportEvents): void;
  /**
   * Writes one frame given as parts (protocol/frame-parts.ts), in order, by reference: the
   * parts must not change until `written` runs, after the last part was written or the
   * write failed. Without `written` the caller may reuse nothing it passed.
   */
  send(parts: Uint8Array[], written?: () => void): void;
  /** Stops reading frames (back-pressure); idempotent. */
  pauseReads(): void;
  /** Reads again; idempotent. */
  resumeReads(): void;
  /**
   * Closes the connection. `code` is a WebSocket close code (protocol/frame-error.ts); a
   * transport without close codes just closes. `reason` may be trimmed to what fits.
   */
  close(code: number, reason: string): void;
}
