/**
 * One client connection: decode, validate, dispatch, answer by id. Many requests run at
 * once (pipelining); answers go out as they complete, so possibly out of order.
 *
 * Back-pressure, checked before anything is buffered without bound:
 *   - in flight: at maxInFlightPerConnection the socket is paused (no more reads) and
 *     resumed when a request completes. Frames already read past the pause are refused
 *     with TOO_MANY_REQUESTS (retriable), so the count never exceeds the limit.
 *   - output (output-budget.ts): fetched records are reserved against the connection's
 *     budget (maxBufferedBytesPerConnection) and the broker's (maxBufferedBytes) before
 *     they are read, and count until their response is queued; then the socket's unsent
 *     bytes count. While the connection's share is spent, reading pauses; it resumes as
 *     the socket drains. A client that pipelines fetches and does not read its answers
 *     stops being read from with about one budget held for it, not one answer per fetch.
 * Metrics: each request is timed from decode to its answer being queued (here rather than
 * in dispatch, so the existing settle callbacks carry it and no extra promise is made per
 * request); requests refused before dispatch count too, under their api when it is known.
 * The buffered-bytes gauge follows ws.bufferedAmount, which send() reads anyway, at each
 * send and drain.
 * Undecodable frames and frames without a readable id close the connection (1007/1008);
 * text frames close it with 1003; ws itself closes oversize frames with 1009, and so does
 * the structure check run before decoding (protocol/frame-limits.ts: msgpack bytes besides
 * record batches, value count, depth), so a small frame cannot cost seconds to decode.
 */
import type { WebSocket } from 'ws';
import type { Socket } from 'node:net';
import { decodeFrameFragments, encodeFrameParts } from '../protocol/frame-parts.js';
import { MAX_REQUEST_DEPTH, MAX_REQUEST_VALUES, type FrameLimits } from '../protocol/frame-limits.js';
import { parseRequest } from '../protocol/parse-request.js';
import { RequestError } from '../protocol/request-error.js';
import { FrameError, CLOSE_INTERNAL_ERROR, CLOSE_UNSUPPORTED_DATA } from '../protocol/frame-error.js';
import { errorName, toWireError, type WireError } from '../protocol/errors.js';
import { API_NAMES } from '../protocol/api.js';
import type { BrokerContext, RequestScope } from './context.js';
import { dispatch } from './dispatch.js';
import { errorOf, wireError } from './wire-error.js';
import { ConnectionBudget } from './output-budget.js';

const SHUTTING_DOWN = errorOf('BROKER_SHUTTING_DOWN');

export class Connection implements RequestScope {
  closed = false;
  inFlight = 0;
  private pausedForInFlight = false;
  private pausedForOutput = false;
  private readonly closeHooks = new Set<() => void>();
  private readonly socket: Socket;
  private readonly limits: FrameLimits;
  /** Response bytes held for this connection; `buffered` is its share of the sluice_buffered_bytes gauge. */
  private readonly budget: ConnectionBudget;
  /** Reserved bytes carried by responses not yet sent (holdUntilSent). */
  private readonly heldBy = new Map<object, number>();

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: BrokerContext,
    readonly remote: string,
    /** Called whenever this connection's in-flight count drops to zero. */
    private readonly onIdle: () => void,
  ) {
    this.socket = (ws as unknown as { _socket: Socket })._socket;
    this.limits = { maxMsgpackBytes: ctx.config.maxRequestMsgpackBytes, maxValues: MAX_REQUEST_VALUES, maxDepth: MAX_REQUEST_DEPTH };
    this.budget = new ConnectionBudget(ctx.config.maxBufferedBytesPerConnection, ctx.output, (spent) => {
      if (spent) this.pause('output');
      else if (this.pausedForOutput) {
        this.pausedForOutput = false;
        this.maybeResume();
      }
    });
    // Produce requests arrive as fragments (protocol/frame-parts.ts); as a list, their
    // record batches are used in place instead of being concatenated (a copy) by ws.
    ws.binaryType = 'fragments';
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer[], isBinary));
    ws.on('close', (code, reason) => this.closedBy(code, reason.toString()));
    ws.on('error', (err) => ctx.log.debug('connection error', { remote, error: err }));
    this.socket.on('drain', () => this.onDrain());
  }

  onClose(fn: () => void): () => void {
    this.closeHooks.add(fn);
    return () => this.closeHooks.delete(fn);
  }

  /** Sends an unsolicited frame (`{ id: 0, push, ... }`, docs/protocol.md); dropped once closed. */
  push(msg: object): void {
    this.send(msg);
  }

  reserveOutput(want: number): Promise<number> {
    return this.budget.reserve(want);
  }

  adjustOutput(delta: number): void {
    this.budget.adjust(delta);
  }

  holdUntilSent(res: object, bytes: number): void {
    if (bytes > 0) this.heldBy.set(res, bytes);
  }

  /** Closes with a code and a reason (trimmed to the 123 bytes a close frame allows). */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
  }

  private onMessage(data: Buffer[], isBinary: boolean): void {
    if (!isBinary) return this.refuse(CLOSE_UNSUPPORTED_DATA, 'text frames are not accepted; send msgpack in binary frames');
    let id: number;
    let req;
    let frame: Record<string, unknown> | undefined;
    const start = performance.now();
    try {
      frame = decodeFrameFragments(data, this.limits);
      req = parseRequest(frame);
      id = req.id;
    } catch (err) {
      if (err instanceof RequestError) return this.answerRefused(frame?.api, start, { id: err.id, error: toWireError(err) });
      if (err instanceof FrameError) return this.refuse(err.closeCode, err.message);
      // A parser bug: one client's frame must not take the broker down. Logged with its
      // stack; answered as UNKNOWN_SERVER_ERROR when the id is readable, else the close.
      const error = wireError(err, this.ctx.log, { remote: this.remote, api: frame?.api });
      if (typeof frame?.id === 'number') return this.answerRefused(frame.api, start, { id: frame.id, error });
      return this.refuse(CLOSE_INTERNAL_ERROR, error.message);
    }
    if (!this.ctx.accepting) return this.answerRefused(req.api, start, { id, error: SHUTTING_DOWN });
    const max = this.ctx.config.maxInFlightPerConnection;
    if (this.inFlight >= max) {
      return this.answerRefused(req.api, start, { id, error: errorOf('TOO_MANY_REQUESTS', `more than ${max} requests in flight on this connection`) });
    }
    if (++this.inFlight >= max) this.pause('inFlight');
    const api = API_NAMES[req.api] ?? 'unknown';
    dispatch(this.ctx, req, this).then(
      (res) => {
        if (res) this.send(res);
        const error = (res as { error?: WireError } | undefined)?.error;
        this.ctx.metrics.request(api, (performance.now() - start) / 1000, error ? errorName(error.code) : undefined);
      },
      (err) => {
        const error = wireError(err, this.ctx.log, { api: req.api });
        this.send({ id, error });
        this.ctx.metrics.request(api, (performance.now() - start) / 1000, errorName(error.code));
      },
    ).finally(() => this.done());
  }

  private answerRefused(api: unknown, start: number, res: { id: number; error: WireError }): void {
    this.send(res);
    // A refused frame's api may be anything a client sent; only known api numbers become labels.
    const name = (typeof api === 'number' && Object.hasOwn(API_NAMES, api) && API_NAMES[api]) || 'unknown';
    this.ctx.metrics.request(name, (performance.now() - start) / 1000, errorName(res.error.code));
  }

  private done(): void {
    this.inFlight--;
    if (this.pausedForInFlight && this.inFlight < this.ctx.config.maxInFlightPerConnection) {
      this.pausedForInFlight = false;
      this.maybeResume();
    }
    if (this.inFlight === 0) this.onIdle();
  }

  private send(msg: object): void {
    const lent = lentRecords(msg);
    let held = 0;
    if (this.heldBy.size > 0) {
      held = this.heldBy.get(msg) ?? 0;
      if (held !== 0) this.heldBy.delete(msg);
    }
    if (this.closed) {
      if (held !== 0) this.budget.adjust(-held);
      return this.giveBack(lent);
    }
    const parts = encodeFrameParts(msg);
    if (parts.length === 1) {
      this.ws.send(parts[0]);
      this.giveBack(lent); // the records were copied into the frame
    } else {
      // Fetched records go out as fragments of one message, by reference: no copy into the
      // frame. Their read buffers go back to the pool once the last fragment is written
      // (the socket writes in order), or the write failed and nothing will read them.
      const last = parts.length - 1;
      for (let i = 0; i < last; i++) this.ws.send(parts[i], { binary: true, fin: false });
      this.ws.send(parts[last], { binary: true, fin: true }, lent ? () => this.giveBack(lent) : undefined);
    }
    // The reserved bytes now sit in bufferedAmount (or already in the kernel).
    const buffered = this.ws.bufferedAmount;
    if (held !== 0 || buffered !== this.budget.buffered) this.reportBuffered(buffered, held);
  }

  private giveBack(lent: Uint8Array[] | null): void {
    if (lent) for (const b of lent) this.ctx.readPool.release(b);
  }

  private reportBuffered(now: number, sentReserved = 0): void {
    this.ctx.metrics.addBufferedBytes(now - this.budget.buffered);
    this.budget.sent(sentReserved, now);
  }

  private pause(why: 'inFlight' | 'output'): void {
    if (why === 'inFlight') this.pausedForInFlight = true;
    else this.pausedForOutput = true;
    if (!this.ws.isPaused) this.ws.pause();
  }

  private onDrain(): void {
    // Resumes reading through the budget's onSpent(false) once held bytes fall below the limit.
    if (this.ws.bufferedAmount !== this.budget.buffered) this.reportBuffered(this.ws.bufferedAmount);
  }

  private maybeResume(): void {
    if (!this.pausedForInFlight && !this.pausedForOutput && this.ws.isPaused && !this.closed) this.ws.resume();
  }

  private refuse(code: number, reason: string): void {
    this.ctx.log.debug('connection refused frame', { remote: this.remote, code, reason });
    this.close(code, reason);
  }

  private closedBy(code: number, reason: string): void {
    this.closed = true;
    if (this.budget.buffered !== 0) this.ctx.metrics.addBufferedBytes(-this.budget.buffered);
    this.budget.close(); // gives this connection's bytes back to the broker budget; waiting fetches read nothing
    this.ctx.log.debug('connection closed', { remote: this.remote, code, reason, inFlight: this.inFlight });
    for (const fn of [...this.closeHooks]) fn();
    this.closeHooks.clear();
  }
}

/** The records of a Fetch response: buffers that may come from the read pool. */
function lentRecords(msg: object): Uint8Array[] | null {
  const parts = (msg as { partitions?: unknown }).partitions;
  if (!Array.isArray(parts)) return null;
  let out: Uint8Array[] | null = null;
  for (const p of parts) {
    const r = (p as { records?: unknown } | null)?.records;
    if (r instanceof Uint8Array && r.length > 0) (out ??= []).push(r);
  }
  return out;
}
