/**
 * Authentication of one connection (docs/security.md), with `auth: scram`: until the SCRAM
 * exchange succeeded, only ApiVersions, SaslHandshake and SaslAuthenticate are served;
 * anything else is refused with AUTHENTICATION_REQUIRED (and counted:
 * sluice_auth_failures_total{reason="unauthenticated_request"}). A connection that has not
 * authenticated `authTimeoutMs` after it opened is closed (1008). A failed exchange is logged
 * (user and address, never a secret), answered SASL_AUTHENTICATION_FAILED after a delay that
 * grows per address (login-delay.ts), and the connection closed.
 *
 * Once authenticated, `principal` is the user: what a later authorizer checks. Requests
 * only brokers send (a replica fetch, a follower's OffsetsForLeaderEpoch, a forwarded topic
 * change, FailsafeCheck) are refused with CLUSTER_AUTHORIZATION_FAILED unless the principal
 * is the inter-broker user: a client cannot pose as a follower (a replica fetch reads past
 * the high watermark and moves the ISR).
 *
 * The exchange: SaslHandshake { mechanism: 'SCRAM-SHA-256' }, then SaslAuthenticate with the
 * client-first and the client-final messages (protocol/scram.ts). One exchange per connection.
 */
import { Api } from '../protocol/api.js';
import type { WireError } from '../protocol/errors.js';
import type { Request } from '../protocol/parse-request.js';
import { SCRAM_SHA_256, ScramError, ScramServer } from '../protocol/scram.js';
import { CLOSE_POLICY_VIOLATION } from '../protocol/frame-error.js';
import { SluiceError } from '../errors.js';
import type { UserStore } from '../auth/user-store.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { Logger } from './logger.js';
import type { LoginDelay } from './login-delay.js';
import { errorOf } from './wire-error.js';

/** What every connection's authentication shares: one per broker (server.ts). */
export interface AuthService {
  readonly users: UserStore;
  readonly delay: LoginDelay;
  readonly timeoutMs: number;
  /** The inter-broker user (cluster mode): the only principal broker-only requests are served for. */
  readonly interBrokerUser: string | undefined;
  readonly log: Logger;
  readonly metrics: BrokerMetrics;
  /**
   * Makes up the salt of an unknown user (protocol/scram.ts), so a login does not say whether
   * the user exists: the user store's (UserStore.fakeSaltKey), so every broker of a cluster
   * makes up the same salt for the same name, as they all answer a real user's the same.
   */
  readonly fakeSaltKey: Buffer;
}

/** Why a failed exchange is counted: the `reason` label of sluice_auth_failures_total. */
export type AuthFailureReason = 'unauthenticated_request' | 'bad_credentials' | 'timeout' | 'not_a_broker';

/** The apis served before authentication. */
const OPEN_APIS: ReadonlySet<number> = new Set([Api.ApiVersions, Api.SaslHandshake, Api.SaslAuthenticate]);

type Step = 'handshake' | 'first' | 'final' | 'done' | 'failed';

export class ConnectionAuth {
  /** The authenticated user; undefined until the exchange succeeded. */
  principal: string | undefined;
  private step: Step = 'handshake';
  private readonly scram: ScramServer;
  private timer: NodeJS.Timeout | undefined;

  /** `close` ends the connection (after its last answer is queued). */
  constructor(private readonly service: AuthService, readonly remote: string, private readonly close: (code: number, reason: string) => void) {
    this.scram = new ScramServer(service.fakeSaltKey);
    this.timer = setTimeout(() => this.expire(), service.timeoutMs).unref();
  }

  /** The connection closed: nothing more to time out. */
  stop(): void {
    clearTimeout(this.timer);
  }

  /**
   * Whether `req` may be dispatched on this connection: undefined if so, else the error to
   * answer it with. Cheap once authenticated (the broker-only check looks at two fields).
   */
  admit(req: Request): WireError | undefined {
    const p = this.principal;
    if (p !== undefined) {
      if (p !== this.service.interBrokerUser && brokerOnly(req)) {
        this.service.metrics.authFailure('not_a_broker');
        this.service.log.warn('auth.refused', { remote: this.remote, user: p, api: req.api, reason: 'a broker-only request from a user who is not the inter-broker user' });
        return errorOf('CLUSTER_AUTHORIZATION_FAILED', `user ${JSON.stringify(p)} may not send broker-to-broker requests (a replica fetch, a forwarded topic change, a failsafe check): only the inter-broker user may`);
      }
      return undefined;
    }
    if (OPEN_APIS.has(req.api)) return undefined;
    this.service.metrics.authFailure('unauthenticated_request');
    return errorOf('AUTHENTICATION_REQUIRED', 'this broker requires SASL/SCRAM-SHA-256 authentication before any other request (auth: scram); give the client sasl: { username, password }');
  }

  handshake(mechanism: string): { mechanisms: string[]; error?: WireError } {
    if (this.step !== 'handshake') return { mechanisms: [SCRAM_SHA_256], error: errorOf('ILLEGAL_SASL_STATE', 'SaslHandshake comes once, first') };
    if (mechanism !== SCRAM_SHA_256) {
      return { mechanisms: [SCRAM_SHA_256], error: errorOf('UNSUPPORTED_SASL_MECHANISM', `mechanism ${JSON.stringify(mechanism)} is not offered; this broker offers ${SCRAM_SHA_256}`) };
    }
    this.step = 'first';
    return { mechanisms: [SCRAM_SHA_256] };
  }

  /** One SaslAuthenticate round: the server-first, then the server-final message. Throws SluiceError when refused. */
  async authenticate(authBytes: Buffer): Promise<Buffer> {
    const step = this.step;
    if (step !== 'first' && step !== 'final') {
      throw new SluiceError('ILLEGAL_SASL_STATE', step === 'handshake' ? 'SaslAuthenticate before SaslHandshake' : 'this connection\'s exchange is over (one per connection)');
    }
    try {
      if (step === 'first') {
        this.step = 'final';
        return await this.scram.first(authBytes, (user) => this.service.users.lookup(user));
      }
      const out = this.scram.final(authBytes);
      this.step = 'done';
      this.principal = this.scram.user;
      clearTimeout(this.timer);
      this.service.delay.succeeded(address(this.remote));
      this.service.log.info('auth.login', { remote: this.remote, user: this.principal });
      return out;
    } catch (err) {
      if (!(err instanceof ScramError)) throw err;
      return this.fail(err.message);
    }
  }

  private async fail(why: string): Promise<never> {
    this.step = 'failed';
    clearTimeout(this.timer);
    const s = this.service;
    s.metrics.authFailure('bad_credentials');
    const waitMs = s.delay.failed(address(this.remote));
    s.log.warn('auth.failed', { remote: this.remote, user: this.scram.user, reason: why, delayMs: waitMs });
    await new Promise((r) => setTimeout(r, waitMs));
    // Closed once the answer below is queued: a new try costs a new connection.
    setImmediate(() => this.close(CLOSE_POLICY_VIOLATION, 'authentication failed'));
    throw new SluiceError('SASL_AUTHENTICATION_FAILED', `authentication failed for user ${JSON.stringify(this.scram.user)}: ${why}`);
  }

  private expire(): void {
    if (this.principal !== undefined || this.step === 'failed') return;
    this.service.metrics.authFailure('timeout');
    this.service.log.info('auth.timeout', { remote: this.remote, timeoutMs: this.service.timeoutMs });
    this.close(CLOSE_POLICY_VIOLATION, `not authenticated within ${this.service.timeoutMs} ms (authTimeoutMs)`);
  }
}

/** Requests only a broker sends: a follower's fetch and epoch query, a forwarded topic change, a failsafe check. */
function brokerOnly(req: Request): boolean {
  if (req.api === Api.FailsafeCheck) return true;
  const r = req as { replicaId?: unknown; forwardedBy?: unknown };
  return r.replicaId !== undefined || r.forwardedBy !== undefined;
}

/** `1.2.3.4:5678` / `::1:5678` -> the address without the port. */
function address(remote: string): string {
  const at = remote.lastIndexOf(':');
  return at < 0 ? remote : remote.slice(0, at);
}
