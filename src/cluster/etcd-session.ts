/**
 * A broker's session with etcd: one lease, kept alive every TTL/3 by the etcd3 client,
 * that every key proving this broker alive is attached to (its registration, its
 * controller candidacy). When the broker dies or is cut off from etcd, etcd expires the
 * lease and all those keys vanish at once, decided by etcd's Raft, not by anyone's timer.
 *
 * Self-fencing. etcd expires a lease no earlier than TTL after it received the last
 * keep-alive, which is after we sent it. So from the moment we sent a keep-alive that etcd
 * answered, we know the lease lives for at least TTL more, by our own monotonic clock,
 * whatever etcd's clock says. `validUntil()` is that send time plus TTL minus a safety
 * margin (for clock-rate differences and the controller's reaction). Past it the broker
 * must stop acting on anything the lease grants (leadership, controllership), because the
 * controller may already have handed it to someone else: the session emits 'fenced'. A
 * later answered keep-alive makes it valid again ('renewed'): the lease did not expire, so
 * nobody took anything over. When etcd says the lease is gone, the session emits 'lost'
 * and stays fenced for good; the broker opens a new session.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Etcd3, Lease } from 'etcd3';

export interface SessionOptions {
  /** Lease TTL in ms; etcd counts whole seconds, so it is rounded up to one. */
  ttlMs: number;
  /** How long before the earliest possible expiry the session counts as fenced (default TTL/6, at least 250 ms). */
  safetyMarginMs?: number;
}

type SessionEvents = { fenced: []; renewed: []; lost: [Error] };

export class EtcdSession extends EventEmitter<SessionEvents> {
  /** Send times (monotonic ms) of keep-alives not yet answered, oldest first. */
  private readonly pendingSends: number[] = [];
  private lastAckedSendAt: number;
  /** When etcd last answered this session (monotonic ms): the grant, then every answered keep-alive. */
  private answeredAt: number;
  private fenceTimer: NodeJS.Timeout | undefined;
  private fenced = false;
  private isLost = false;
  readonly ttlSeconds: number;
  readonly marginMs: number;

  private constructor(
    readonly lease: Lease,
    /** The lease id as etcd prints it (decimal string). */
    readonly leaseId: string,
    grantSentAt: number,
    opts: SessionOptions,
  ) {
    super();
    this.ttlSeconds = Math.max(1, Math.ceil(opts.ttlMs / 1000));
    this.marginMs = opts.safetyMarginMs ?? Math.max(250, Math.round((this.ttlSeconds * 1000) / 6));
    this.lastAckedSendAt = grantSentAt;
    this.answeredAt = performance.now();
    lease.on('keepaliveFired', () => { this.pendingSends.push(performance.now()); });
    lease.on('keepaliveSucceeded', () => { this.acked(); });
    // A failed keep-alive leaves the pending send unanswered; the next success answers a later one.
    lease.on('keepaliveFailed', () => { this.pendingSends.shift(); });
    lease.on('lost', (err) => { this.lose(err); });
    this.armFence();
  }

  /** Grants the lease; the grant request counts as the first keep-alive. */
  static async open(client: Etcd3, opts: SessionOptions): Promise<EtcdSession> {
    const ttlSeconds = Math.max(1, Math.ceil(opts.ttlMs / 1000));
    const lease = client.lease(ttlSeconds);
    // The lease reports its loss as an event; without a listener an early loss would throw.
    const early: Error[] = [];
    const onEarly = (err: Error) => { early.push(err); };
    lease.on('lost', onEarly);
    const sentAt = performance.now();
    const leaseId = await lease.grant();
    lease.removeListener('lost', onEarly);
    const session = new EtcdSession(lease, leaseId, sentAt, opts);
    if (early.length > 0) session.lose(early[0]!);
    return session;
  }

  /** Monotonic ms (performance.now() scale) until which the lease certainly lives, minus the margin. */
  validUntil(): number {
    return this.isLost ? -Infinity : this.lastAckedSendAt + this.ttlSeconds * 1000 - this.marginMs;
  }

  /** Whether the broker may still act on what its lease grants. */
  isValid(now = performance.now()): boolean {
    return now < this.validUntil();
  }

  /** When etcd last answered this session (monotonic ms, performance.now() scale), lost or not. */
  get lastAnswerAt(): number {
    return this.answeredAt;
  }

  /** How long after the last answered keep-alive was sent the session fences itself (TTL minus the margin). */
  get fenceAfterMs(): number {
    return this.ttlSeconds * 1000 - this.marginMs;
  }

  get lost(): boolean {
    return this.isLost;
  }

  /** Revokes the lease (its keys vanish at once) and stops keeping it alive. */
  async close(): Promise<void> {
    clearTimeout(this.fenceTimer);
    this.isLost = true;
    try {
      await this.lease.revoke();
    } catch {
      // Already expired or etcd unreachable: either way the lease ends by itself within TTL.
    }
  }

  private acked(): void {
    const sentAt = this.pendingSends.shift();
    this.answeredAt = performance.now();
    if (sentAt === undefined || this.isLost) return;
    if (sentAt > this.lastAckedSendAt) this.lastAckedSendAt = sentAt;
    if (this.fenced && this.isValid()) {
      this.fenced = false;
      this.emit('renewed');
    }
    this.armFence();
  }

  private armFence(): void {
    clearTimeout(this.fenceTimer);
    if (this.isLost) return;
    const delay = this.validUntil() - performance.now();
    if (delay <= 0) {
      this.fence();
      return;
    }
    this.fenceTimer = setTimeout(() => { this.fence(); }, delay);
    this.fenceTimer.unref();
  }

  private fence(): void {
    if (this.fenced) return;
    this.fenced = true;
    this.emit('fenced');
  }

  private lose(err: Error): void {
    if (this.isLost) return;
    this.isLost = true;
    clearTimeout(this.fenceTimer);
    this.fence();
    this.emit('lost', err);
  }
}
