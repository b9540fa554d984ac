/**
 * The WebSocket transport (transport.ts): one ws connection, as the request pipeline sees it.
 *
 * Framing: one binary WebSocket message is one frame, taken as the list of its fragments
 * (`binaryType: 'fragments'`) so the record batches of a Produce are used in place instead
 * of being concatenated by ws. Text frames close the connection with 1003; ws itself closes
 * frames over maxPayload with 1009. Back-pressure pauses and resumes ws (which pauses the
 * socket). Unsent bytes are ws.bufferedAmount; the socket's 'drain' says when to look again.
 * The raw socket comes from the HTTP upgrade (server.ts), not from a private field of ws.
 *
 * Liveness (docs/protocol.md): every `pingIntervalMs` the broker pings; a peer that has
 * sent nothing (no pong, no frame) since the previous ping is taken for dead and its socket
 * destroyed (close code 1006), so a frozen client or a cut network path is noticed within
 * one to two intervals instead of never (TCP keeps a silent half-open connection forever).
 * While the pipeline has paused reading, a pong may be waiting unread in the kernel: such
 * a peer counts as alive when we hold nothing unsent for it (reads are paused for the
 * in-flight limit; they resume as its requests finish, and the next tick judges it) or when
 * it took some of our bytes since the ping (it reads, slowly). A peer that neither reads
 * nor answers is closed, which also frees the output budget it held.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { CLOSE_UNSUPPORTED_DATA } from '../protocol/frame-error.js';
import type { Logger } from './logger.js';
import type { Transport, TransportEvents } from './transport.js';

export interface WsTransportOptions {
  /** Ping period; a peer silent for a whole period is closed. 0 = no pings. */
  pingIntervalMs: number;
  log: Logger;
}

export class WsTransport implements Transport {
  /** The peer sent something (a pong, a frame) since the last ping. */
  private heard = true;
  /** ws.bufferedAmount when the last ping was sent, and whether the socket drained since. */
  private bufferedAtPing = 0;
  private drained = false;
  private pinger: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded socket under `ws` (server.ts hands it over from the HTTP upgrade). */
    private readonly socket: Duplex,
    readonly remote: string,
    private readonly opts: WsTransportOptions,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  bind(events: TransportEvents): void {
    const ws = this.ws;
    ws.binaryType = 'fragments';
    ws.on('message', (data, isBinary) => {
      this.heard = true;
      if (!isBinary) {
        this.opts.log.debug('connection refused frame', { remote: this.remote, code: CLOSE_UNSUPPORTED_DATA });
        this.close(CLOSE_UNSUPPORTED_DATA, 'text frames are not accepted; send msgpack in binary frames');
        return;
      }
      events.frame(data as Buffer[]);
    });
    ws.on('pong', () => { this.heard = true; });
    ws.on('close', (code, reason) => {
      clearInterval(this.pinger);
      events.close(code, reason.toString());
    });
    ws.on('error', (err) => this.opts.log.debug('connection error', { remote: this.remote, error: err }));
    this.socket.on('drain', () => {
      this.drained = true;
      events.drain();
    });
    if (this.opts.pingIntervalMs > 0) this.pinger = setInterval(() => this.tick(), this.opts.pingIntervalMs).unref();
  }

  send(parts: Uint8Array[], written?: () => void): void {
    const ws = this.ws;
    if (parts.length === 1) {
      ws.send(parts[0], written);
      return;
    }
    // Fragments of one message, by reference; the socket writes in order, so the last
    // fragment's callback runs once every part was written (or the write failed).
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) ws.send(parts[i], { binary: true, fin: false });
    ws.send(parts[last], { binary: true, fin: true }, written);
  }

  pauseReads(): void {
    if (!this.ws.isPaused) this.ws.pause();
  }

  resumeReads(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  /** Closes with a code and a reason (trimmed to the 123 bytes a close frame allows). */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
  }

  private tick(): void {
    if (!this.heard && !this.mayBeUnread()) {
      this.opts.log.info('connection closed: no answer to ping', { remote: this.remote, pingIntervalMs: this.opts.pingIntervalMs });
      clearInterval(this.pinger);
      this.ws.terminate();
      return;
    }
    this.heard = false;
    this.drained = false;
    this.bufferedAtPing = this.ws.bufferedAmount;
    this.ws.ping();
  }

  /** Reads are paused and the peer may have answered unread (see the header). */
  private mayBeUnread(): boolean {
    if (!this.ws.isPaused) return false;
    const buffered = this.ws.bufferedAmount;
    return buffered === 0 || this.drained || buffered < this.bufferedAtPing;
  }
}
