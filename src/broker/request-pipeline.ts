/**
 * The request pipeline of one connection, whatever its transport (transport.ts): decode,
 * validate, limit, dispatch, answer by id. Many requests run at once (pipelining).
 *
 * Order of answers: out of order (the native protocol: each answer leaves as its request
 * completes, a parked long poll does not hold up later produces) or, with `ordered`, in
 * request order, as Kafka's protocol requires: a completed answer waits behind the ones
 * before it, and keeps counting in flight until it leaves, so answers held back by a slow
 * first request are bounded by the in-flight limit.
 *
 * Back-pressure, checked before anything is buffered without bound:
 *   - in flight: at maxInFlightPerConnection the transport stops reading and resumes when
 *     a request completes. Frames already read past the pause are refused with
 *     TOO_MANY_REQUESTS (retriable), so the count never exceeds the limit.
 *   - output (output-budget.ts): fetched records are reserved against the connection's
 *     budget (maxBufferedBytesPerConnection) and the broker's (maxBufferedBytes) before
 *     they are read, and count until their response is queued; then the transport's unsent
 *     bytes count. While the connection's share is spent, reading pauses; it resumes as
 *     the transport drains. A client that pipelines fetches and does not read its answers
 *     stops being read from with about one budget held for it, not one answer per fetch.
 * Quotas (client-quotas.ts, KIP-219): a Produce's record bytes and a Fetch's or ShareAcquire's
 * answered record bytes are metered against the connection's user or client id once its handler answered; an
 * over-quota answer carries `throttleTimeMs`, and the connection is muted (reads paused) for
 * it, at most MAX_MUTE_MS at a time. Replica fetches are not metered.
 * Idle (connectionsMaxIdleMs, server.ts): `idleMs` is how long the connection has had nothing
 * in flight and nothing bound to it; a handler that binds state to the connection (a share
 * worker, a group member's pushes, a parked long poll) does so with onClose, which holds it.
 * Metrics: each request is timed from decode to its handler's answer (here rather than in
 * dispatch, so the existing settle callbacks carry it and no extra promise is made per
 * request); requests refused before dispatch count too, under their api when it is known.
 * The buffered-bytes gauge follows the transport's unsent bytes, read at each send and drain.
 * Undecodable frames and frames without a readable id close the connection (1007/1008),
 * and so does the structure check run before decoding (protocol/frame-limits.ts: msgpack
 * bytes besides record batches, value count, depth), so a small frame cannot cost seconds
 * to decode. What the transport refuses itself (text frames, oversize messages) it closes.
 */
import type { Request } from '../protocol/parse-request.js';
import { RequestError } from '../protocol/request-error.js';
import { FrameError, CLOSE_INTERNAL_ERROR } from '../protocol/frame-error.js';
import { errorName, toWireError, type WireError } from '../protocol/errors.js';
import { apiName } from '../protocol/api-table.js';
import type { BrokerContext, RequestScope } from './context.js';
import { errorOf, wireError } from './wire-error.js';
import { ConnectionBudget } from './output-budget.js';
import type { FrameCodec } from './native-codec.js';
import type { Transport } from './transport.js';
import type { ConnectionAuth } from './connection-auth.js';
import { Api } from '../protocol/api.js';
import { MAX_MUTE_MS, type ClientQuotas, type QuotaSubject } from './client-quotas.js';

const SHUTTING_DOWN = errorOf('BROKER_SHUTTING_DOWN');

/** What the pipeline reads from the broker; `accepting` is read live. */
export type PipelineContext = Pick<BrokerContext, 'config' | 'metrics' | 'log' | 'output' | 'readPool' | 'accepting' | 'quotas'>;

/** Runs one request's handler (dispatch.ts, bound to the broker context by server.ts). */
export type Dispatch = (req: Request, scope: RequestScope) => Promise<object | undefined>;

export interface PipelineOptions {
  codec: FrameCodec;
  dispatch: Dispatch;
  /** Answers leave in request order (Kafka) instead of as they complete (native). */
  ordered: boolean;
  /** Called whenever the in-flight count drops to zero. */
  onIdle: () => void;
  /** `auth: scram`: the connection's login, which admits each request first (connection-auth.ts). */
  auth?: ConnectionAuth | undefined;
  /** The client id the connection announced (protocol/client-quota.ts); '' when none. */
  clientId?: string;
  /** The connection closed: the owner's bookkeeping (not a hook that holds the connection against idling, as onClose's are). */
  onClosed?: () => void;
}

/** An answer's place in line (ordered mode). */
interface Slot {
  res: object | undefined;
  ready: boolean;
  /** Counted in flight until it leaves (refused frames are not). */
  counted: boolean;
}

export class RequestPipeline implements RequestScope, QuotaSubject {
  closed = false;
  inFlight = 0;
  readonly clientId: string;
  private pausedForInFlight = false;
  private pausedForOutput = false;
  private pausedForThrottle = false;
  private muteTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the last frame read or the last answer that left nothing in flight. */
  private lastActive = performance.now();
  private readonly onClosed: (() => void) | undefined;
  private paused = false;
  private readonly closeHooks = new Set<() => void>();
  /** Response bytes held for this connection; `buffered` is its share of the sluice_buffered_bytes gauge. */
  private readonly budget: ConnectionBudget;
  /** Reserved bytes carried by responses not yet sent (holdUntilSent). */
  private readonly heldBy = new Map<object, number>();
  private readonly codec: FrameCodec;
  private readonly dispatch: Dispatch;
  private readonly onIdle: () => void;
  /** Answers in request order, the first not yet sent at `head` (ordered mode only). */
  private readonly line: Slot[] | null;
  private head = 0;
  readonly auth: ConnectionAuth | undefined;

  constructor(private readonly transport: Transport, private readonly ctx: PipelineContext, opts: PipelineOptions) {
    this.codec = opts.codec;
    this.dispatch = opts.dispatch;
    this.onIdle = opts.onIdle;
    this.line = opts.ordered ? [] : null;
    this.auth = opts.auth;
    this.clientId = opts.clientId ?? '';
    this.onClosed = opts.onClosed;
    this.budget = new ConnectionBudget(ctx.config.maxBufferedBytesPerConnection, ctx.output, (spent) => {
      if (spent) this.pause('output');
      else if (this.pausedForOutput) {
        this.pausedForOutput = false;
        this.maybeResume();
      }
    });
    transport.bind({
      frame: (parts) => this.onFrame(parts),
      drain: () => this.onDrain(),
      close: (code, reason) => this.closedBy(code, reason),
    });
  }

  get remote(): string {
    return this.transport.remote;
  }

  get principal(): string | undefined {
    return this.auth?.principal;
  }

  onClose(fn: () => void): () => void {
    this.closeHooks.add(fn);
    return () => this.closeHooks.delete(fn);
  }

  /** Sends an unsolicited frame (`{ id: 0, push, ... }`, docs/protocol.md) at once; dropped once closed. */
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

  close(code: number, reason: string): void {
    this.transport.close(code, reason);
  }

  /** How long (ms, at `now` from performance.now()) nothing was in flight or bound to this connection; 0 while something is. */
  idleMs(now: number): number {
    return this.inFlight === 0 && this.closeHooks.size === 0 ? now - this.lastActive : 0;
  }

  private onFrame(parts: Buffer[]): void {
    let id: number;
    let req: Request;
    let frame: Record<string, unknown> | undefined;
    const start = performance.now();
    this.lastActive = start;
    try {
      frame = this.codec.decode(parts);
      req = this.codec.parse(frame);
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
    if (this.auth !== undefined) {
      const refused = this.auth.admit(req);
      if (refused !== undefined) return this.answerRefused(req.api, start, { id, error: refused });
    }
    const max = this.ctx.config.maxInFlightPerConnection;
    if (this.inFlight >= max) {
      return this.answerRefused(req.api, start, { id, error: errorOf('TOO_MANY_REQUESTS', `more than ${max} requests in flight on this connection`) });
    }
    if (++this.inFlight >= max) this.pause('inFlight');
    const api = apiName(req.api) ?? 'unknown';
    const slot = this.line ? this.enqueue(true) : null;
    void this.dispatch(req, this).then(
      (res) => {
        const q = this.ctx.quotas;
        if (q !== undefined && q.active) this.meter(q, req, res);
        this.answer(slot, res);
        const error = (res as { error?: WireError } | undefined)?.error;
        this.ctx.metrics.request(api, (performance.now() - start) / 1000, error ? errorName(error.code) : undefined);
      },
      (err) => {
        const error = wireError(err, this.ctx.log, { api: req.api });
        this.answer(slot, { id, error });
        this.ctx.metrics.request(api, (performance.now() - start) / 1000, errorName(error.code));
      },
    );
  }

  /** Counts a Produce's, a consumer Fetch's or a ShareAcquire's record bytes against the quota; over it, the answer says so and the connection is muted. */
  private meter(q: ClientQuotas, req: Request, res: object | undefined): void {
    let bytes = 0;
    let throttleMs: number;
    if (req.api === Api.Produce) {
      for (const p of req.partitions) bytes += p.records.length;
      throttleMs = q.record('produce', this, bytes);
    } else if ((req.api === Api.Fetch && req.replicaId === undefined) || req.api === Api.ShareAcquire) {
      // A share worker's acquired records are consumer bytes like a fetch's (the same quota).
      const parts = (res as { partitions?: { records: Uint8Array }[] } | undefined)?.partitions;
      if (parts !== undefined) for (const p of parts) bytes += p.records.length;
      throttleMs = q.record('fetch', this, bytes);
    } else return;
    if (throttleMs === 0) return;
    if (res !== undefined) (res as { throttleTimeMs?: number }).throttleTimeMs = throttleMs;
    this.mute(Math.min(throttleMs, MAX_MUTE_MS));
  }

  /** Stops reading for `ms` (from now, unless already muted longer). */
  private mute(ms: number): void {
    if (this.closed) return;
    this.pause('throttle');
    clearTimeout(this.muteTimer);
    this.muteTimer = setTimeout(() => {
      this.pausedForThrottle = false;
      this.maybeResume();
    }, ms);
  }

  /** A handler finished: its answer leaves now (out of order) or when its turn comes (ordered). */
  private answer(slot: Slot | null, res: object | undefined): void {
    if (slot) {
      slot.res = res;
      slot.ready = true;
      this.flush();
      return;
    }
    try {
      if (res) this.send(res);
    } finally {
      this.done();
    }
  }

  private answerRefused(api: unknown, start: number, res: { id: number; error: WireError }): void {
    if (this.line) {
      const slot = this.enqueue(false);
      slot.res = res;
      slot.ready = true;
      this.flush();
    } else this.send(res);
    // A refused frame's api may be anything a client sent; only known api numbers become labels.
    const name = (typeof api === 'number' && apiName(api)) || 'unknown';
    this.ctx.metrics.request(name, (performance.now() - start) / 1000, errorName(res.error.code));
  }

  private enqueue(counted: boolean): Slot {
    const slot: Slot = { res: undefined, ready: false, counted };
    this.line!.push(slot);
    return slot;
  }

  /** Sends the ready answers at the head of the line, in order. */
  private flush(): void {
    const line = this.line!;
    while (this.head < line.length && line[this.head].ready) {
      const slot = line[this.head++];
      try {
        if (slot.res) this.send(slot.res);
      } finally {
        if (slot.counted) this.done();
      }
    }
    // Drop the sent prefix now and then rather than shifting once per answer.
    if (this.head === line.length) {
      line.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= line.length) {
      line.splice(0, this.head);
      this.head = 0;
    }
  }

  private done(): void {
    this.inFlight--;
    if (this.pausedForInFlight && this.inFlight < this.ctx.config.maxInFlightPerConnection) {
      this.pausedForInFlight = false;
      this.maybeResume();
    }
    if (this.inFlight === 0) {
      this.lastActive = performance.now();
      this.onIdle();
    }
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
    const parts = this.codec.encode(msg);
    if (parts.length === 1) {
      this.transport.send(parts);
      this.giveBack(lent); // the records were copied into the frame
    } else {
      // Fetched records go out by reference: no copy into the frame. Their read buffers go
      // back to the pool once the last part is written, or the write failed and nothing
      // will read them.
      this.transport.send(parts, lent ? () => this.giveBack(lent) : undefined);
    }
    // The reserved bytes now sit in the transport's buffer (or already in the kernel).
    const buffered = this.transport.bufferedBytes;
    if (held !== 0 || buffered !== this.budget.buffered) this.reportBuffered(buffered, held);
  }

  private giveBack(lent: Uint8Array[] | null): void {
    if (lent) for (const b of lent) this.ctx.readPool.release(b);
  }

  private reportBuffered(now: number, sentReserved = 0): void {
    this.ctx.metrics.addBufferedBytes(now - this.budget.buffered);
    this.budget.sent(sentReserved, now);
  }

  private pause(why: 'inFlight' | 'output' | 'throttle'): void {
    if (why === 'inFlight') this.pausedForInFlight = true;
    else if (why === 'output') this.pausedForOutput = true;
    else this.pausedForThrottle = true;
    if (!this.paused) {
      this.paused = true;
      this.transport.pauseReads();
    }
  }

  private onDrain(): void {
    // Resumes reading through the budget's onSpent(false) once held bytes fall below the limit.
    const buffered = this.transport.bufferedBytes;
    if (buffered !== this.budget.buffered) this.reportBuffered(buffered);
  }

  private maybeResume(): void {
    if (!this.pausedForInFlight && !this.pausedForOutput && !this.pausedForThrottle && this.paused && !this.closed) {
      this.paused = false;
      this.transport.resumeReads();
    }
  }

  private refuse(code: number, reason: string): void {
    this.ctx.log.debug('connection refused frame', { remote: this.remote, code, reason });
    this.close(code, reason);
  }

  private closedBy(code: number, reason: string): void {
    this.closed = true;
    this.auth?.stop();
    clearTimeout(this.muteTimer);
    if (this.budget.buffered !== 0) this.ctx.metrics.addBufferedBytes(-this.budget.buffered);
    this.budget.close(); // gives this connection's bytes back to the broker budget; waiting fetches read nothing
    this.ctx.log.debug('connection closed', { remote: this.remote, code, reason, inFlight: this.inFlight });
    for (const fn of [...this.closeHooks]) fn();
    this.closeHooks.clear();
    this.onClosed?.();
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
