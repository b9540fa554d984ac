/**
 * One WebSocket to one broker, shared by everything a client object sends there.
 *
 * Requests are pipelined: each gets a u32 id, any number can be in flight, and responses
 * (which the broker may send out of order) are matched back by id. Each request has its
 * own timeout. Sends are back-pressure aware: once more than `maxBufferedBytes` were
 * handed to the socket and not yet written, new requests wait for the socket to drain
 * instead of growing an unbounded buffer.
 *
 * The first connect fails fast with a NetworkError naming the URL (a CLI can say "broker
 * not reachable"). Once connected, a dropped connection fails the requests in flight with
 * a retriable NETWORK_ERROR (whether the broker applied them is unknown; the caller
 * retries) and reconnects with exponential backoff and jitter until close(). Requests made
 * while reconnecting wait for the new socket, up to their timeout.
 *
 * Size limits: the broker announces maxFrameBytes and maxRequestMsgpackBytes (and
 * maxBatchBytes, for the producer) on the upgrade response (protocol/broker-limits.ts). A
 * request that breaks one is refused here with MESSAGE_TOO_LARGE naming the limit and the
 * size, without being sent: the broker would close the connection on it. Should the broker
 * close with 1009 anyway (a limit not announced: an older broker, or the msgpack value
 * count cap), the request in flight with the largest frame, the likely culprit, fails with
 * MESSAGE_TOO_LARGE naming the close and the limits, the others with a NETWORK_ERROR saying
 * why the connection was lost.
 *
 * Several URLs (a bootstrap list, client/broker-list.ts): the first connect tries them in
 * order and fails only when none answers (one pass, so a mistyped list is reported at once).
 * After a drop the connection tries the URL it had, then the others in order without waiting,
 * and backs off only once a whole pass failed; `url` is the one it is (or was last) connected
 * to. A client's home connection is one of these: its groups, queues and admin requests go to
 * whichever bootstrap broker is alive.
 *
 * Quotas (docs/security.md, "Quotas and limits"): an answer with `throttleTimeMs` (the
 * client's user or client id went over its byte-rate quota at that broker) holds every later
 * request on this connection back until the throttle has passed, as Kafka's clients do
 * (KIP-219); the broker stops reading the connection meanwhile anyway. `clientId` is announced
 * on every connect (the `sluice-client-id` upgrade header); it names the client's quota entry
 * when the broker runs without auth.
 *
 * Refused and idle (connection limits): a broker at a connection limit answers the upgrade
 * with the `sluice-refused` header and closes at once with 1013 and a reason naming the
 * limit; the connect fails with a NetworkError carrying both (a reconnect backs off and tries
 * again). A connection the broker closed for idling (CLOSE_IDLE, connectionsMaxIdleMs) is not
 * reconnected at once: the next request connects again.
 *
 * Liveness: every `pingIntervalMs` the client pings the broker; a broker that sent nothing
 * (no pong, no answer, no push) for a whole interval is taken for lost, exactly as a drop:
 * TCP alone would keep a connection to a frozen broker or across a cut path open, and its
 * requests would only time out one by one.
 */
import WebSocket from 'ws';
import { Api, type ApiKey, type ApiVersionsResponse } from '../protocol/api.js';
import { apiDefinition, apiName, type BodyOf, type ResponseOf } from '../protocol/api-table.js';
import { readLimitHeaders, REFUSED_HEADER, type BrokerLimits } from '../protocol/broker-limits.js';
import { CLOSE_IDLE, CLOSE_TOO_BIG, FrameError } from '../protocol/frame-error.js';
import { CLIENT_ID_HEADER } from '../protocol/client-quota.js';
import { checkFrameLimits, MAX_REQUEST_DEPTH, MAX_REQUEST_VALUES } from '../protocol/frame-limits.js';
import { fromWireError, type WireError } from '../protocol/errors.js';
import { ClientClosedError, InvalidArgumentError, MessageTooLargeError, NetworkError, RequestTimeoutError } from './errors.js';
import { decodeFrameFragments, encodeFrameParts } from '../protocol/frame-parts.js';
import { clientLogger, errorText, type Logger, type LoggerOptions } from './logger.js';
import { scramLogin, type LoginSend, type SaslCredentials } from './sasl-login.js';
import { SluiceError } from '../errors.js';
import { safeToSendLate } from './late-send.js';
import { PendingRequests } from './pending-requests.js';

/** PEM text or bytes, or several (a CA bundle). */
type Pem = string | Buffer | (string | Buffer)[];

/** TLS for wss:// brokers, handed to ws (Node's tls.connect options). */
export interface ClientTlsOptions {
  /** The CA(s) that signed the broker's certificate; default: Node's trusted CAs. */
  ca?: Pem;
  /** A client certificate and its key, for brokers with tls.requireClientCert. */
  cert?: Pem;
  key?: Pem;
  /** Default true. false accepts any certificate: for tests only, never in production. */
  rejectUnauthorized?: boolean;
  /** The name the certificate must carry, when not the URL's host. */
  servername?: string;
}

export interface ConnectionOptions extends LoggerOptions {
  /** Default timeout of one request; a long-poll fetch adds its maxWaitMs. Default 30 s. */
  requestTimeoutMs?: number;
  /** Timeout of one connect attempt. Default 10 s. */
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt up to reconnectBackoffMaxMs. Default 100 ms. */
  reconnectBackoffMs?: number;
  reconnectBackoffMaxMs?: number;
  /** Bytes handed to the socket but not yet written above which requests wait. Default 16 MiB. */
  maxBufferedBytes?: number;
  /**
   * Ping the broker this often; a broker silent for a whole interval counts as a lost
   * connection (requests in flight fail with NETWORK_ERROR, then reconnect). 0 = no pings.
   * Default 10 s.
   */
  pingIntervalMs?: number;
  /** TLS for wss:// URLs (docs/security.md). */
  tls?: ClientTlsOptions;
  /** Log in with SASL/SCRAM-SHA-256 on every new socket, before anything else (a broker with auth: scram requires it). */
  sasl?: SaslCredentials;
  /**
   * Who this client is, for the broker's quotas when it runs without auth (docs/security.md):
   * at most 255 characters, no control character or '/' (else the broker counts it as none).
   */
  clientId?: string;
}

interface Pending {
  api: number;
  /** Bytes of the request's frame (to tell the likely culprit of a 1009 close). */
  bytes: number;
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** What a request has asked of the connection: its api (for errors), and when it gives up. */
interface Ask {
  api: number;
  timeoutMs: number;
  /** performance.now() at which the caller gives up: every wait before the send spends from it, the answer gets what is left. */
  deadline: number;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Id of unsolicited broker frames; never allocated to a request (ids run 1..0xffffffff). */
const PUSH_ID = 0;

type State = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export class Connection {
  readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoffMs: number;
  private readonly backoffMaxMs: number;
  private readonly maxBufferedBytes: number;
  private readonly pingIntervalMs: number;
  private readonly log: Logger;
  private readonly tls: ClientTlsOptions | undefined;
  private readonly sasl: SaslCredentials | undefined;
  private readonly clientId: string | undefined;
  /** Date.now() before which no request is sent: the broker's last throttle (quotas). */
  private throttledUntil = 0;
  /** Requests waiting out a throttle; close() releases them. */
  private readonly throttleWaiters = new Set<() => void>();

  private readonly urls: string[];
  /** Index in `urls` of the broker this connection is (or was last) connected to, or tries next. */
  private at = 0;
  /** URLs left to try in the current reconnect pass before backing off. */
  private untried = 0;
  private ws: WebSocket | null = null;
  /** What the broker announced on the current (or last) connection; undefined: nothing. */
  private announced: BrokerLimits | undefined;
  private state: State = 'idle';
  private connecting: Promise<void> | null = null;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** The broker sent something (pong, answer, push) since the last ping. */
  private heard = true;
  private nextId = 1;
  /** Requests in flight by id: array slots, not a Map (pending-requests.ts: a Map's churn was promoted). */
  private readonly pending = new PendingRequests<Pending>();
  private readonly openWaiters = new Set<Waiter>();
  private unwritten = 0;
  private readonly drainWaiters = new Set<Waiter>();
  private readonly reconnectListeners: (() => void)[] = [];
  private readonly pushListeners = new Set<(msg: Record<string, unknown>) => void>();
  private readonly lostListeners = new Set<(err: Error) => void>();
  private versions: Promise<ApiVersionsResponse['apis']> | null = null;

  constructor(urls: string | readonly string[], opts: ConnectionOptions = {}) {
    this.urls = typeof urls === 'string' ? [urls] : [...urls];
    if (this.urls.length === 0) throw new InvalidArgumentError('a connection needs at least one broker URL');
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.backoffMs = opts.reconnectBackoffMs ?? 100;
    this.backoffMaxMs = opts.reconnectBackoffMaxMs ?? 5_000;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.pingIntervalMs = opts.pingIntervalMs ?? 10_000;
    this.log = clientLogger(opts);
    this.tls = opts.tls;
    this.sasl = opts.sasl;
    this.clientId = opts.clientId;
    if (opts.sasl !== undefined && (typeof opts.sasl.username !== 'string' || opts.sasl.username === '' || typeof opts.sasl.password !== 'string' || opts.sasl.password === '')) {
      throw new InvalidArgumentError('sasl needs a non-empty username and password');
    }
  }

  /** The broker URL this connection is (or was last) connected to, or tries next. */
  get url(): string {
    return this.urls[this.at];
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  /** Lost and trying to reconnect: a request made now waits for the reconnect (up to its timeout). */
  get reconnecting(): boolean {
    return this.state === 'reconnecting';
  }

  /** The size limits the broker announced when this connection opened (undefined: none, or not connected yet). */
  get limits(): BrokerLimits | undefined {
    return this.announced;
  }

  /** Called after every successful reconnect (not the first connect). */
  onReconnect(fn: () => void): void {
    this.reconnectListeners.push(fn);
  }

  /**
   * Calls `fn` for every unsolicited frame the broker sends (`{ id: 0, push, ... }`, see
   * docs/protocol.md); listeners ignore push kinds they do not know. Returns an unsubscribe.
   */
  onPush(fn: (msg: Record<string, unknown>) => void): () => void {
    this.pushListeners.add(fn);
    return () => this.pushListeners.delete(fn);
  }

  /**
   * Calls `fn` when the socket drops or the connection closes, with the error the requests in
   * flight then fail with: for answers the broker sends later as a push (a ShareAcquire's
   * `share-acks`), which a new socket will never bring. Returns an unsubscribe.
   */
  onLost(fn: (err: Error) => void): () => void {
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  private lost(err: Error): void {
    for (const fn of [...this.lostListeners]) fn(err);
  }

  /** Opens the socket; rejects with NetworkError if the broker cannot be reached. Idempotent. */
  connect(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ClientClosedError(`connection to ${this.url}`));
    if (this.state === 'open') return Promise.resolve();
    if (this.state === 'reconnecting') {
      return park(this.openWaiters, this.connectTimeoutMs, () => new NetworkError(this.url, `not connected to ${this.url} (reconnecting for ${this.connectTimeoutMs} ms)`));
    }
    if (!this.connecting) {
      this.state = 'connecting';
      this.connecting = this.openAny().then(
        () => { this.connecting = null; },
        (err) => { this.connecting = null; this.state = 'idle'; throw err; },
      );
    }
    return this.connecting;
  }

  /** The first connect: each URL in order, once; rejects naming them all when none answers. */
  private async openAny(): Promise<void> {
    const errors: Error[] = [];
    for (let i = 0; i < this.urls.length; i++) {
      try {
        await this.open();
        return;
      } catch (err) {
        // A login refused is not a broker being down: the next bootstrap broker would say the same.
        if (err instanceof SluiceError && err.code !== 'NETWORK_ERROR') throw err;
        errors.push(err as Error);
        if (this.state === 'closed') break;
        this.at = (this.at + 1) % this.urls.length;
      }
    }
    if (errors.length === 1) throw errors[0];
    const all = this.urls.join(', ');
    throw new NetworkError(all, `cannot connect to any broker of ${all}: ${errors.map((e) => e.message).join('; ')}`, { cause: errors[errors.length - 1] });
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.url, {
          handshakeTimeout: this.connectTimeoutMs,
          perMessageDeflate: false,
          // RFC 6455 makes clients mask frames so that script in a *browser* cannot craft
          // bytes that poison a proxy cache. A Node client sending its own binary frames
          // gains nothing from it, and without the native bufferutil ws masks in JS: it was
          // 21% of client CPU in bench/client-throughput.ts. An all-zero mask is valid on
          // the wire and lets ws skip the XOR pass.
          generateMask: zeroMask,
          ...this.tls,
          ...(this.clientId !== undefined && { headers: { [CLIENT_ID_HEADER]: this.clientId } }),
        });
      } catch (err) {
        reject(new NetworkError(this.url, `invalid broker URL ${this.url}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      let settled = false;
      let announced: BrokerLimits | undefined;
      /** The broker refused the connection (a connection limit): its close says why. */
      let refused = false;
      ws.on('upgrade', (res) => {
        announced = readLimitHeaders(res.headers);
        refused = res.headers[REFUSED_HEADER] !== undefined;
      });
      ws.on('open', () => {
        if (this.state === 'closed') { ws.terminate(); return; }
        if (refused) return; // the close comes next

        if (this.sasl === undefined) return opened();
        // Logged in before the socket is used: nothing else may be sent first.
        scramLogin(this.loginSend(ws, loginIds), this.sasl).then(opened, (err: unknown) => {
          if (settled) return;
          settled = true;
          ws.terminate();
          reject(err instanceof SluiceError ? err : new NetworkError(this.url, `login at ${this.url} failed: ${errorText(err)}`, { cause: err }));
        });
      });
      const loginIds: number[] = [];
      const opened = (): void => {
        if (settled) return;
        if (this.state === 'closed') { ws.terminate(); return; }
        settled = true;
        this.ws = ws;
        this.announced = announced;
        this.state = 'open';
        this.attempts = 0;
        this.keepAlive(ws);
        resolve();
        for (const w of [...this.openWaiters]) w.resolve();
      };
      // Fetch responses arrive as fragments (see protocol/frame-parts.ts); taking them as a
      // list lets the records be used in place instead of ws concatenating them (a copy).
      ws.binaryType = 'fragments';
      ws.on('message', (data: Buffer[]) => this.onMessage(data));
      ws.on('error', (err) => {
        if (!settled) {
          settled = true;
          reject(new NetworkError(this.url, `cannot connect to broker at ${this.url}: ${describe(err, this.tls?.cert !== undefined)}`, { cause: err }));
        }
      });
      ws.on('close', (code, reason) => {
        if (!settled) {
          settled = true;
          for (const id of loginIds) this.forget(id);
          if (refused) {
            reject(new NetworkError(this.url, `the broker at ${this.url} refused the connection (close ${code}): ${reason.toString() || 'no reason given'}`));
            return;
          }
          reject(new NetworkError(this.url, `cannot connect to broker at ${this.url}: connection closed during ${loginIds.length > 0 ? 'login' : 'handshake'}${reason.length > 0 ? ` (${reason.toString()})` : ''}`));
          return;
        }
        if (this.ws === ws) this.onDropped(code, reason.toString());
      });
    });
  }

  /** Sends the login's requests on `ws` before it is the connection's socket; answers come back through onMessage. */
  private loginSend(ws: WebSocket, ids: number[]): LoginSend {
    return (api, body) => {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      ids.push(id);
      const frame = encodeFrameParts({ id, api, version: versionOf(api), ...body });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          if (this.pending.delete(id)) reject(new NetworkError(this.url, `no answer to ${apiName(api) ?? api} from ${this.url} within ${this.connectTimeoutMs} ms (login)`));
        }, this.connectTimeoutMs);
        this.pending.set(id, { api, bytes: 0, resolve, reject, timer });
        sendParts(ws, frame, (err) => {
          if (err && this.pending.delete(id)) {
            clearTimeout(timer);
            reject(new NetworkError(this.url, `write to ${this.url} failed: ${err.message}`, { cause: err }));
          }
        });
      });
    };
  }

  private forget(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
  }

  /** Pings `ws` until it closes; ends it (a drop: onDropped) when the broker went silent. */
  private keepAlive(ws: WebSocket): void {
    if (this.pingIntervalMs <= 0) return;
    this.heard = true;
    ws.on('pong', () => { this.heard = true; });
    const timer = setInterval(() => {
      if (!this.heard) {
        clearInterval(timer);
        this.log.warn({ url: this.url, pingIntervalMs: this.pingIntervalMs }, `no answer from ${this.url} within ${this.pingIntervalMs} ms of a ping; dropping the connection`);
        ws.terminate();
        return;
      }
      this.heard = false;
      ws.ping();
    }, this.pingIntervalMs).unref();
    ws.once('close', () => clearInterval(timer));
  }

  private onDropped(code: number, reason: string): void {
    this.ws = null;
    this.versions = null; // the next socket may reach another broker build
    if (code === CLOSE_IDLE) {
      // Nothing was in flight (the broker closes only idle connections; a request that crossed the close fails as a drop).
      this.failAll(() => new NetworkError(this.url, `connection to ${this.url} was lost: the broker closed it as idle (${reason})`));
      this.lost(new NetworkError(this.url, `connection to ${this.url} was lost: the broker closed it as idle (${reason})`));
      if (this.state === 'closed') return;
      this.state = 'idle';
      this.log.debug({ url: this.url, reason }, `${this.url} closed the connection as idle; reconnecting when next used`);
      return;
    }
    if (code === CLOSE_TOO_BIG) {
      const why = this.tooBigText(reason);
      this.log.warn({ url: this.url, code, reason }, why);
      let culprit: Pending | undefined;
      for (const p of this.pending.values()) if (!culprit || p.bytes > culprit.bytes) culprit = p;
      const l = this.announced;
      this.failAll((p) => p === culprit
        ? new MessageTooLargeError(`${apiText(p.api)} request of ${p.bytes} bytes: ${why}`, 'maxFrameBytes', l ? l.maxFrameBytes : -1, p.bytes)
        : new NetworkError(this.url, `connection to ${this.url} was lost: ${why}`));
    } else {
      this.failAll(() => new NetworkError(this.url, `connection to ${this.url} was lost`));
    }
    this.lost(new NetworkError(this.url, `connection to ${this.url} was lost before the broker's answer`));
    if (this.state === 'closed') return;
    this.state = 'reconnecting';
    this.log.warn({ url: this.url }, `connection to ${this.url} lost; reconnecting`);
    this.untried = this.urls.length;
    this.scheduleReconnect(false);
  }

  /** What a 1009 close says, with the limits it may be about. */
  private tooBigText(reason: string): string {
    const l = this.announced;
    const limits = l
      ? `maxFrameBytes ${l.maxFrameBytes}, maxRequestMsgpackBytes ${l.maxRequestMsgpackBytes}`
      : 'maxFrameBytes (the broker announced no limits)';
    return `the broker closed the connection with 1009 (message too big${reason ? `: ${reason}` : ''}); a request broke its limits: ${limits}`;
  }

  /**
   * Throws MessageTooLargeError when `frame` breaks a limit the broker announced: the broker
   * would close the connection on it (1009), failing everything else in flight too. Cheap:
   * the msgpack bytes are walked only when the bytes besides big record batches could
   * exceed maxRequestMsgpackBytes at all.
   */
  private checkSize(api: number, frame: Uint8Array[]): number {
    let total = 0;
    for (const p of frame) total += p.length;
    const l = this.announced;
    if (!l) return total;
    if (total > l.maxFrameBytes) {
      throw new MessageTooLargeError(`${apiText(api)} request of ${total} bytes is larger than the broker's maxFrameBytes ${l.maxFrameBytes}`, 'maxFrameBytes', l.maxFrameBytes, total);
    }
    // Parts are [msgpack, batch, msgpack, batch, ..., msgpack] (protocol/frame-parts.ts).
    let other = total;
    for (let i = 1; i < frame.length; i += 2) other -= frame[i].length;
    if (other > l.maxRequestMsgpackBytes) {
      try {
        checkFrameLimits(frame.length === 1 ? frame[0] : Buffer.concat(frame), { maxMsgpackBytes: l.maxRequestMsgpackBytes, maxValues: MAX_REQUEST_VALUES, maxDepth: MAX_REQUEST_DEPTH });
      } catch (err) {
        if (!(err instanceof FrameError) || err.closeCode !== CLOSE_TOO_BIG) throw err;
        throw new MessageTooLargeError(`${apiText(api)} request refused before sending: ${err.message}`, 'maxRequestMsgpackBytes', l.maxRequestMsgpackBytes, total);
      }
    }
    return total;
  }

  /** `now`: the next URL of a pass, tried without waiting (the backoff is per pass over the URLs). */
  private scheduleReconnect(now: boolean): void {
    // Full jitter on an exponential backoff: many clients of a restarted broker do not
    // all come back in the same millisecond.
    let delay = 0;
    if (!now) {
      const cap = Math.min(this.backoffMaxMs, this.backoffMs * 2 ** Math.min(this.attempts, 16));
      delay = cap / 2 + Math.random() * (cap / 2);
      this.attempts++;
    }
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== 'reconnecting') return;
      this.open().then(
        () => {
          this.log.info({ url: this.url }, `reconnected to ${this.url}`);
          for (const fn of this.reconnectListeners) fn();
        },
        () => {
          if (this.state !== 'reconnecting') return;
          this.at = (this.at + 1) % this.urls.length;
          if (--this.untried > 0) {
            this.scheduleReconnect(true);
          } else {
            this.untried = this.urls.length;
            this.scheduleReconnect(false);
          }
        },
      );
    }, delay);
  }

  private onMessage(data: Buffer[]): void {
    this.heard = true;
    let msg: { id?: number; error?: WireError; push?: unknown };
    try {
      msg = decodeFrameFragments(data) as typeof msg;
    } catch (err) {
      this.log.warn({ url: this.url }, `undecodable frame from ${this.url}: ${errorText(err)}`);
      return;
    }
    if (msg.id === PUSH_ID) {
      // Request ids start at 1 and wrap back to 1, so id 0 is only ever a broker push.
      if (typeof msg.push !== 'string') return;
      for (const fn of this.pushListeners) {
        try {
          fn(msg as Record<string, unknown>);
        } catch (err) {
          this.log.error({ url: this.url }, `push listener failed: ${errorText(err)}`);
        }
      }
      return;
    }
    const throttle = (msg as { throttleTimeMs?: unknown }).throttleTimeMs;
    if (typeof throttle === 'number' && throttle > 0) this.throttled(throttle);
    const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (!p) return; // answer to a request that already timed out
    this.pending.delete(msg.id!);
    clearTimeout(p.timer);
    if (msg.error && msg.error.code !== 0) p.reject(fromWireError(msg.error));
    else p.resolve(msg);
  }

  /** Sendable now, without waiting: the fast path of every request. */
  private sendable(): boolean {
    return this.state === 'open' && this.ws !== null && this.throttledUntil === 0 && this.unwritten <= this.maxBufferedBytes;
  }

  /**
   * Waits until a frame may be handed to the socket: a throttle passed, connected (or
   * reconnected), the socket drained below maxBufferedBytes. Each wait ends at the request's
   * deadline, and the state is checked again after each (a drop or close() can come between).
   * Nothing of the request is left behind when it gives up: waiters remove themselves.
   * Throws NetworkError when still not connected at the deadline (nothing was sent; a route
   * takes a lost link for a moved coordinator), RequestTimeoutError when held back by a
   * throttle or a full socket, ClientClosedError after close().
   */
  private async untilSendable(ask: Ask): Promise<void> {
    while (!this.sendable()) {
      if (this.state === 'closed') throw new ClientClosedError(`connection to ${this.url}`);
      const left = ask.deadline - performance.now();
      if (this.state !== 'open') {
        const notConnected = (): Error => new NetworkError(this.url, `not connected to ${this.url} within the ${apiText(ask.api)} request's ${ask.timeoutMs} ms (${this.state === 'reconnecting' ? 'reconnecting' : 'connecting'}); it was not sent`);
        if (left <= 0) throw notConnected();
        if (this.state === 'reconnecting') await park(this.openWaiters, left, notConnected);
        else await within(this.connect(), left, notConnected);
      } else if (this.throttledUntil !== 0) {
        await this.waitOutThrottle(ask);
      } else if (this.unwritten > this.maxBufferedBytes) {
        const full = (): Error => new RequestTimeoutError(this.url, ask.api, ask.timeoutMs, `waiting for the socket to drain (over maxBufferedBytes ${this.maxBufferedBytes})`);
        if (left <= 0) throw full();
        await park(this.drainWaiters, left, full);
      } else {
        // 'open' always comes with a socket (onDropped and close() change the state with it).
        throw new NetworkError(this.url, `connection to ${this.url} is open without a socket`);
      }
    }
  }

  /** Hands `parts` to the socket; `done` runs once they are written (to the kernel) or failed. */
  private write(parts: Uint8Array[], done: (e?: Error) => void): void {
    const n = sendParts(this.ws!, parts, (err) => {
      this.unwritten -= n;
      done(err ? new NetworkError(this.url, `write to ${this.url} failed: ${err.message}`, { cause: err }) : undefined);
      // Checked first: a copy of the waiters on every write was a per-request allocation, and there are almost never any.
      if (this.drainWaiters.size > 0 && this.unwritten <= this.maxBufferedBytes) for (const w of [...this.drainWaiters]) w.resolve();
    });
    this.unwritten += n;
  }

  /**
   * Encodes a request frame with the next id and checks it against the broker's limits;
   * state, socket and throttle were checked just before, with no await in between.
   */
  private frame(api: ApiKey, body: object): { id: number; frame: Uint8Array[]; bytes: number } {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const frame = encodeFrameParts({ id, api, version: versionOf(api), ...body });
    return { id, frame, bytes: this.checkSize(api, frame) };
  }

  /**
   * The error of a request whose deadline passed. A frame still in the socket's buffer then
   * (not written to the kernel: the broker stopped reading, or the link is stalled) would go
   * out whenever the socket drains, long after the caller took the timeout as "not done" and
   * maybe sent it again. Unless the broker may apply it late harmlessly (client/late-send.ts),
   * the socket is ended now so the frame is never sent; the other requests in flight fail with
   * NETWORK_ERROR and the connection reconnects, as after any drop (Kafka's clients drop the
   * connection on every request timeout).
   */
  private timedOut(ws: WebSocket, api: ApiKey, body: object, timeoutMs: number, written: boolean): RequestTimeoutError {
    if (written || safeToSendLate(api, body)) return new RequestTimeoutError(this.url, api, timeoutMs);
    if (this.ws === ws) {
      this.log.warn({ url: this.url, api }, `a ${apiText(api)} request to ${this.url} was still unwritten at its deadline; dropping the connection so it is never sent late`);
      ws.terminate();
    }
    return new RequestTimeoutError(this.url, api, timeoutMs, 'its frame was still in the socket\'s buffer (the broker is not reading); the connection was dropped so it is never sent');
  }

  /**
   * Sends one request of `api` and resolves with its response frame, both typed by the
   * api table (protocol/api-table.ts). The header carries the version of the api this
   * client was built with (the table's maxVersion).
   *
   * One deadline, `timeoutMs` (default requestTimeoutMs) from this call: waits for a
   * throttle, a connect or reconnect, or a full socket to drain spend from it, and the
   * answer gets what is left. Rejects with BrokerError for a whole-request wire error
   * (UNSUPPORTED_VERSION from a broker that does not speak it), NetworkError when the
   * connection drops first or is still down at the deadline, RequestTimeoutError at the
   * deadline otherwise (`sent` says whether the frame went out: one that did may still be
   * applied). A frame not yet written at the deadline is never sent after it unless that is
   * harmless (timedOut).
   */
  async request<A extends ApiKey>(api: A, body: BodyOf<A>, timeoutMs = this.requestTimeoutMs): Promise<ResponseOf<A>> {
    const deadline = performance.now() + timeoutMs;
    // A loop: close() (or another request filling the socket) can run between untilSendable's return and the next line.
    while (!this.sendable()) await this.untilSendable({ api, timeoutMs, deadline });
    const { id, frame, bytes } = this.frame(api, body);
    const ws = this.ws!;
    return new Promise<ResponseOf<A>>((resolve, reject) => {
      let written = false;
      const timer = setTimeout(() => {
        // After a stall (GC, a paused VM) timers run before the poll phase reads what arrived
        // meanwhile: an answer already on the socket gets that one I/O turn to land. Dropping
        // it would lose what the broker did for it (records it locked for this worker).
        setImmediate(() => {
          if (this.pending.delete(id)) reject(this.timedOut(ws, api, body, timeoutMs, written));
        });
      }, Math.max(0, deadline - performance.now()));
      this.pending.set(id, { api, bytes, resolve, reject, timer });
      this.write(frame, (e) => {
        written = e === undefined;
        if (e && this.pending.delete(id)) {
          clearTimeout(timer);
          reject(e);
        }
      });
    });
  }

  /**
   * The version range of every api the broker speaks (ApiVersions), asked once per
   * connection and kept until it drops. Nothing calls it yet: every api is at version 0,
   * so this client sends version 0; a client that sends a newer version of an api asks
   * first and falls back to the broker's maxVersion.
   */
  apiVersions(): Promise<ApiVersionsResponse['apis']> {
    this.versions ??= this.request(Api.ApiVersions, {}).then((r) => r.apis, (err: unknown) => {
      this.versions = null;
      throw err;
    });
    return this.versions;
  }

  /**
   * Sends a Produce the broker does not answer (acks=0); resolves once written. The same
   * deadline as a request (requestTimeoutMs from this call), up to the write: a frame not
   * written by then fails with RequestTimeoutError and is never sent (timedOut).
   */
  async sendOnly(api: typeof Api.Produce, body: BodyOf<typeof Api.Produce>): Promise<void> {
    const timeoutMs = this.requestTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    // A loop: close() (or another request filling the socket) can run between untilSendable's return and the next line.
    while (!this.sendable()) await this.untilSendable({ api, timeoutMs, deadline });
    const { frame } = this.frame(api, body);
    const ws = this.ws!;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(this.timedOut(ws, api, body, timeoutMs, false));
      }, Math.max(0, deadline - performance.now()));
      this.write(frame, (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      });
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** The broker throttled this client for `ms` (quotas): nothing is sent before it passed. */
  private throttled(ms: number): void {
    const until = Date.now() + ms;
    if (until > this.throttledUntil) this.throttledUntil = until;
    this.log.debug({ url: this.url, throttleTimeMs: ms }, `${this.url} throttled this client for ${ms} ms (over its byte-rate quota)`);
  }

  /**
   * Resolves once the last throttle has passed; rejects with ClientClosedError when closed
   * meanwhile, and with RequestTimeoutError (not sent) when `ask`'s deadline comes first.
   */
  private async waitOutThrottle(ask: Ask): Promise<void> {
    for (let ms = this.throttledUntil - Date.now(); ms > 0; ms = this.throttledUntil - Date.now()) {
      const left = ask.deadline - performance.now();
      if (left <= 0) throw new RequestTimeoutError(this.url, ask.api, ask.timeoutMs, `held back by the broker's throttle (quota) for ${Math.ceil(ms)} ms more`);
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(t); this.throttleWaiters.delete(done); resolve(); };
        const t = setTimeout(done, Math.min(ms, left));
        this.throttleWaiters.add(done);
      });
      if (this.state === 'closed') throw new ClientClosedError(`connection to ${this.url}`);
    }
    this.throttledUntil = 0;
  }

  private failAll(make: (p: Pending) => Error): void {
    for (const [id, p] of this.pending.entries()) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(make(p));
    }
    for (const w of [...this.drainWaiters]) w.resolve(); // they re-check the state and wait for the reconnect
  }

  /** Fails everything in flight with ClientClosedError and stops reconnecting. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const w of [...this.openWaiters]) w.reject(new ClientClosedError(`connection to ${this.url}`));
    this.failAll(() => new ClientClosedError(`connection to ${this.url}`));
    this.lost(new ClientClosedError(`connection to ${this.url}`));
    for (const done of [...this.throttleWaiters]) done();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { ws.terminate(); resolve(); }, 1000);
        ws.once('close', () => { clearTimeout(t); resolve(); });
        ws.close(1000);
      });
    }
  }
}

/**
 * Sends one frame given as parts (protocol/frame-parts.ts): one part as one message, more
 * as fragments of one message, so record batches are written by reference. `cb` runs once,
 * after the last part. Returns the bytes handed to the socket.
 */
function sendParts(ws: WebSocket, parts: Uint8Array[], cb: (err?: Error) => void): number {
  let n = 0;
  for (const p of parts) n += p.length;
  if (parts.length === 1) ws.send(parts[0], cb);
  else for (let i = 0; i < parts.length; i++) ws.send(parts[i], { binary: true, fin: i === parts.length - 1 }, i === parts.length - 1 ? cb : undefined);
  return n;
}

/**
 * Waits until `waiters` is released (a waiter's resolve or reject), for `ms` at most, then
 * fails with `onTimeout()`. Either way the waiter and its timer are gone afterwards.
 */
function park(waiters: Set<Waiter>, ms: number, onTimeout: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const w: Waiter = {
      resolve: () => { clearTimeout(t); waiters.delete(w); resolve(); },
      reject: (e) => { clearTimeout(t); waiters.delete(w); reject(e); },
    };
    const t = setTimeout(() => w.reject(onTimeout()), ms);
    waiters.add(w);
  });
}

/** `p`, or `onTimeout()` after `ms` if it has not settled by then (p goes on; its outcome is then ignored). */
function within<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { t = setTimeout(() => reject(onTimeout()), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

function apiText(api: number): string {
  return apiName(api) ?? `api ${api}`;
}

/** The version of `api` this client speaks: its table's maxVersion. */
function versionOf(api: ApiKey): number {
  return apiDefinition(api)?.maxVersion ?? 0;
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Node's codes for a broker certificate that does not verify. */
const CERT_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** `gaveCert`: this client presented a certificate (tls.cert), so a broker that hangs up right away most likely refused it. */
function describe(err: Error & { code?: string }, gaveCert = false): string {
  if (err.code !== undefined && CERT_ERRORS.has(err.code)) {
    return `the broker's TLS certificate does not verify (${err.code}: ${err.message}); give the CA that signed it (tls.ca, sluice --ca, SLUICE_CA)`;
  }
  // The broker's verdict on this client's certificate (tls.requireClientCert): an alert from OpenSSL, or, in TLS 1.3, often only a hang-up after the handshake.
  if (/alert certificate required/.test(err.message)) {
    return `the broker requires a client certificate (tls.requireClientCert) and none was given: give tls.cert and tls.key (sluice --cert, --key), signed by a CA the broker trusts (${err.message.trim()})`;
  }
  if (/alert (unknown ca|bad certificate|certificate unknown|decrypt error)/.test(err.message) || (gaveCert && (err.code === 'ECONNRESET' || err.message === 'socket hang up'))) {
    return `the broker refused this client's TLS certificate (${err.message.trim() || err.code}): is it signed by the CA the broker trusts (its tls.caFile), and not expired?`;
  }
  if (err.code === 'EPROTO' || /wrong version number|packet length too long/.test(err.message)) return `TLS handshake failed (${err.message}): does the broker listen with TLS? (wss:// needs a TLS listener, ws:// a plaintext one)`;
  if (err.code === 'ECONNRESET' || err.message === 'socket hang up') return `${err.message || err.code} (if the broker listens with TLS, use a wss:// URL; if it requires client certificates, give one)`;
  if (err.code === 'ECONNREFUSED') return 'connection refused (is the broker running?)';
  if (err.code === 'ENOTFOUND') return 'host not found';
  return err.message || err.code || String(err);
}
