/**
 * The connection limits (docs/security.md, "Quotas and limits"): `maxConnections` in all,
 * `maxConnectionsPerIp` from one address, and `maxConnectionCreationRatePerIp` new
 * connections per second from one address. Checked when a WebSocket upgrade arrives, before
 * anything is allocated for it; server.ts completes the upgrade of a refused connection only
 * to close it at once with 1013 (Try Again Later) and a reason naming the limit, so the client
 * can say why (a bare TCP reset says nothing), and counts it in
 * sluice_connections_refused_total{reason}.
 *
 * The rate is a token bucket per address holding up to one second's worth (a client may open
 * `rate` connections at once, then `rate` per second). Only accepted connections take a
 * token: a client hammering the port is refused until it slows down, and its refusals cost
 * it nothing it could save up. 0 turns a limit off. The brokers of a cluster dial each other
 * through the same port: the limits must leave them room (a few links per other broker).
 */
import type { BrokerConfig } from '../config/settings.js';
import type { ConnectionRefusal } from '../metrics/broker-metrics.js';

export interface Refusal {
  reason: ConnectionRefusal;
  /** For the close reason and the log: names the limit and the setting. */
  message: string;
}

export type ConnectionLimitSettings = Pick<BrokerConfig, 'maxConnections' | 'maxConnectionsPerIp' | 'maxConnectionCreationRatePerIp'>;

interface Bucket {
  tokens: number;
  /** ms (now()) of the last refill */
  at: number;
}

/** Buckets kept before full ones (nothing to remember) are dropped: bounds memory against many addresses. */
const MAX_BUCKETS = 10_000;

export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly cfg: ConnectionLimitSettings, private readonly now: () => number = () => performance.now()) {}

  /** Connections open now (accepted and not yet closed). */
  get open(): number {
    return this.total;
  }

  /**
   * Takes a place for a new connection from `ip`, or says why it is refused (then nothing
   * was taken). Every place taken is given back with closed(ip).
   */
  admit(ip: string): Refusal | undefined {
    const { maxConnections, maxConnectionsPerIp, maxConnectionCreationRatePerIp: rate } = this.cfg;
    if (maxConnections > 0 && this.total >= maxConnections) {
      return { reason: 'max_connections', message: `too many connections: this broker accepts ${maxConnections} (maxConnections)` };
    }
    const fromIp = this.perIp.get(ip) ?? 0;
    if (maxConnectionsPerIp > 0 && fromIp >= maxConnectionsPerIp) {
      return { reason: 'max_connections_per_ip', message: `too many connections from ${ip}: ${maxConnectionsPerIp} at most (maxConnectionsPerIp)` };
    }
    if (rate > 0 && !this.takeToken(ip, rate)) {
      return { reason: 'creation_rate', message: `connections from ${ip} opened faster than ${rate} per second (maxConnectionCreationRatePerIp)` };
    }
    this.total++;
    this.perIp.set(ip, fromIp + 1);
    return undefined;
  }

  closed(ip: string): void {
    this.total--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private takeToken(ip: string, rate: number): boolean {
    const now = this.now();
    let b = this.buckets.get(ip);
    if (b === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropFull(now, rate);
      b = { tokens: rate, at: now };
      this.buckets.set(ip, b);
    } else {
      b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  /** Forgets buckets that have refilled: a new one for the address starts full, as they are. */
  private dropFull(now: number, rate: number): void {
    for (const [ip, b] of this.buckets) if (b.tokens + ((now - b.at) * rate) / 1000 >= rate) this.buckets.delete(ip);
  }
}
