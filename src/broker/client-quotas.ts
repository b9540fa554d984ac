/**
 * Byte-rate quotas per user or client id (docs/security.md, "Quotas and limits"), Kafka's
 * KIP-13 with KIP-219's answer: over quota, a request is served, not refused; its answer
 * carries `throttleTimeMs`, the client sends nothing more to this broker for that long, and
 * the broker stops reading the connection for it (request-pipeline.ts), so a client that
 * ignores the throttle waits all the same.
 *
 * Which entity a connection's bytes count against, and which entry gives its quota:
 * protocol/client-quota.ts. Each entity has its own budget on this broker, shared by all its
 * connections here.
 *
 * The meter: GCRA (a token bucket kept as one number per entity and kind). `due` is when the
 * entity would have sent its bytes so far at exactly its rate; a request of n bytes moves it
 * n / rate seconds later (from now, if it lay in the past: idle time is not saved up beyond
 * the burst). The throttle is how far `due` lies ahead of now past a burst allowance of
 * BURST_MS: a client that waits each throttle out moves exactly its rate over any window
 * longer than a second, whatever its request sizes, and one that never exceeds its rate is
 * never throttled. Rounding is up, so the rate is never exceeded by rounding.
 *
 * Cost: while no entry exists `active` is false and the pipeline looks at nothing else, so a
 * broker without quotas pays one property read per answer. With entries, one Map lookup per
 * produce or fetch of an entity that has a quota (the lookup tables are rebuilt when the
 * store changes, never per request).
 */
import type { ClientQuotaValues } from '../protocol/api.js';
import { quotaEntityKey } from '../protocol/client-quota.js';
import type { QuotaStore } from '../auth/quota-store.js';
import type { BrokerMetrics, QuotaKind } from '../metrics/broker-metrics.js';

/** Bytes an entity may send at once before it is throttled, as time at its rate: one second's worth. */
export const BURST_MS = 1000;
/**
 * Longest the broker stops reading an over-quota connection at a time. A client that honours
 * the throttle (ours) waits the whole throttle itself; a mute longer than this would leave the
 * client's pings unanswered for longer than its ping interval (10 s by default) and it would
 * drop the connection. A client that ignores the throttle gets one request read per mute,
 * each throttled again from the same meter, so its rate is still held, within one request.
 */
export const MAX_MUTE_MS = 5000;
/** Meters kept before idle ones (nothing owed) are dropped: bounds memory against clients inventing client ids. */
const MAX_METERS = 10_000;

/** The connection a request came on, as the quotas see it. */
export interface QuotaSubject {
  /** The authenticated user (`auth: scram`); undefined with `auth: none`. */
  readonly principal: string | undefined;
  /** The client id the connection announced ('' when none). */
  readonly clientId: string;
}

interface Meter {
  /** bytes per second */
  readonly rate: number;
  /** performance.now() by which the entity's bytes so far were due at its rate. */
  due: number;
  /** The metric label: the entity's own entry, or `default`. */
  readonly label: string;
}

const QUOTA_OF: Readonly<Record<QuotaKind, keyof ClientQuotaValues>> = { produce: 'producerByteRate', fetch: 'consumerByteRate' };

export interface ClientQuotasOptions {
  /** `auth: scram`: entities are users; else client ids. */
  byUser: boolean;
  /** Never metered: the inter-broker user (replication has its own throttle). */
  exemptUser?: string | undefined;
  metrics: BrokerMetrics;
  /** ms, monotonic; default performance.now. */
  now?: () => number;
}

export class ClientQuotas {
  /** Some entry exists: false means nothing is metered (the only thing the hot path reads). */
  active = false;
  private own = new Map<string, ClientQuotaValues>();
  private fallback: ClientQuotaValues | undefined;
  private readonly meters = new Map<string, Meter>();
  private readonly byUser: boolean;
  private readonly now: () => number;

  constructor(readonly store: QuotaStore, private readonly opts: ClientQuotasOptions) {
    this.byUser = opts.byUser;
    this.now = opts.now ?? (() => performance.now());
    this.reload();
    store.onChange(() => this.reload());
  }

  /**
   * Counts `bytes` of `kind` against the subject's entity; returns the throttle in ms (0:
   * within quota, or no quota applies).
   */
  record(kind: QuotaKind, subject: QuotaSubject, bytes: number): number {
    const m = this.meter(kind, subject);
    if (m === undefined) return 0;
    const now = this.now();
    m.due = (m.due > now ? m.due : now) + (bytes * 1000) / m.rate;
    const ahead = m.due - now - BURST_MS;
    const throttleMs = ahead > 0 ? Math.ceil(ahead) : 0;
    this.opts.metrics.quotaRecorded(kind, m.label, bytes, throttleMs);
    return throttleMs;
  }

  /**
   * The most record bytes one consumer Fetch answer may carry for the subject: its quota's
   * burst (BURST_MS at its rate), or Infinity when no fetch quota applies. Kafka bounds a
   * throttled client's fetch the same way (the quota's window): an answer far past the quota
   * is a throttle as long as it is over quota, and the client holds back every request on
   * that connection for it, a group member's heartbeats included, so a 4 MiB answer under a
   * 128 KiB/s quota (31 s) had the member fenced (test/integration/quota-group-member.test.ts).
   * Bounded, a throttle stays about a second, and a client that ignores it still gets at
   * most a burst per mute. The first batch of an answer is served whole all the same.
   */
  maxFetchBytes(subject: QuotaSubject): number {
    const m = this.meter('fetch', subject);
    return m === undefined ? Infinity : Math.max(1, Math.floor((m.rate * BURST_MS) / 1000));
  }

  /** The meter of the subject's entity for `kind`, or undefined when no quota applies to it. */
  private meter(kind: QuotaKind, s: QuotaSubject): Meter | undefined {
    let entity: string;
    if (this.byUser) {
      if (s.principal === undefined || s.principal === this.opts.exemptUser) return undefined;
      entity = quotaEntityKey({ type: 'user', name: s.principal });
    } else {
      entity = quotaEntityKey({ type: 'client-id', name: s.clientId });
    }
    const key = kind === 'produce' ? entity : `${entity}\0fetch`;
    const hit = this.meters.get(key);
    if (hit !== undefined) return hit;
    const ownEntry = this.own.get(entity);
    const rate = (ownEntry ?? this.fallback)?.[QUOTA_OF[kind]];
    if (rate === undefined) return undefined;
    if (this.meters.size >= MAX_METERS) this.dropIdle();
    const m: Meter = { rate, due: 0, label: ownEntry?.[QUOTA_OF[kind]] !== undefined ? entity : 'default' };
    this.meters.set(key, m);
    return m;
  }

  /** Forgets meters that owe nothing: a new one for the same entity starts where they were. */
  private dropIdle(): void {
    const now = this.now();
    for (const [k, m] of this.meters) if (m.due <= now) this.meters.delete(k);
  }

  /**
   * The store changed: new lookup tables. Meters start again (a changed rate applies from
   * now; what an entity owed under the old rate is forgiven).
   */
  private reload(): void {
    const own = new Map<string, ClientQuotaValues>();
    let fallback: ClientQuotaValues | undefined;
    for (const e of this.store.entries()) {
      const { entityType, name, ...values } = e;
      if (entityType === 'default') fallback = values;
      else if ((entityType === 'user') === this.byUser) own.set(quotaEntityKey({ type: entityType, name: name! }), values);
    }
    this.own = own;
    this.fallback = fallback;
    this.meters.clear();
    this.active = own.size > 0 || fallback !== undefined;
  }
}

/**
 * The most record bytes a consumer answer (a Fetch, a ShareAcquire) may carry on `scope`'s
 * connection: ClientQuotas.maxFetchBytes when a fetch quota applies, else Infinity (no
 * quotas, no connection, or none for this entity).
 */
export function consumerAnswerBound(quotas: ClientQuotas | undefined, scope: { readonly principal?: string | undefined; readonly clientId?: string } | undefined): number {
  if (quotas === undefined || !quotas.active || scope === undefined) return Infinity;
  return quotas.maxFetchBytes({ principal: scope.principal, clientId: scope.clientId ?? '' });
}
