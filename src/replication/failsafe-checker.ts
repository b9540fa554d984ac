/**
 * The asking side of failsafe mode (cluster/failsafe.ts has the rules and why they are safe).
 * While this broker's etcd session is not trusted (the self-fence point passed, or etcd said
 * the lease is gone), it sends FailsafeCheck to every broker of the live set it saw when the
 * session stopped being trusted, at once and then every TTL/3 (sooner after a round that was
 * not fully granted, so a peer that fenced itself a little later than this broker is asked
 * again soon). Each round's outcome goes to the Failsafe state, which the replica manager
 * reads on every write (`writable`). It logs `replication.failsafe.on` when a full round lets it write
 * while untrusted and `replication.failsafe.off` with the reason when that ends.
 *
 * No sockets: the links are handed in (the broker's, shared with the replica fetcher).
 */
import { Api } from '../protocol/api.js';
import type { Failsafe } from '../cluster/failsafe.js';
import { SILENT_REPLICATION_LOGGER, type ReplicationLogger } from './logger.js';
import type { LinkFactory } from './types.js';

export interface FailsafeCheckerOptions {
  readonly nodeId: number;
  readonly failsafe: Failsafe;
  readonly links: LinkFactory;
  /** Whether this broker's etcd session is trusted now (ClusterNode.hasSession). */
  sessionValid(): boolean;
  /** The live brokers now (the directory; it stops changing once etcd is unreachable). */
  liveBrokers(): Iterable<number>;
  /** The etcd revision of the newest partition state this broker applied (newestRevision of the view). */
  viewRevision(): number;
  /** Silent unless given. */
  readonly logger?: ReplicationLogger;
}

export class FailsafeChecker {
  private timer: NodeJS.Timeout | undefined;
  /** The peers asked, frozen when the session stopped being trusted; undefined while it is trusted. */
  private peers: number[] | undefined;
  private lastRoundStart = -Infinity;
  private lastRoundFull = false;
  private inFlight = false;
  private activeNow = false;
  private lastRefusal = '';
  private stopped = false;

  private readonly log: ReplicationLogger;

  constructor(private readonly o: FailsafeCheckerOptions) {
    this.log = o.logger ?? SILENT_REPLICATION_LOGGER;
  }

  /** Whether this broker acknowledges writes under failsafe grants right now (sluice_cluster_failsafe_active). */
  get active(): boolean {
    return this.activeNow;
  }

  start(): void {
    const w = this.o.failsafe.windows;
    // Polls often enough to start asking soon after the fence point and to notice W running out.
    const pollMs = Math.max(20, Math.min(250, Math.floor(w.roundIntervalMs / 4)));
    this.timer = setInterval(() => { this.poll(); }, pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** One look: leave failsafe when the session is back, notice W ran out, start a round when due. */
  poll(): void {
    if (this.stopped) return;
    const f = this.o.failsafe;
    if (this.o.sessionValid()) {
      if (this.peers !== undefined) {
        this.peers = undefined;
        this.lastRoundStart = -Infinity;
        f.reset();
        this.setActive(false, 'etcd session valid again');
      }
      return;
    }
    const now = f.now();
    if (this.peers === undefined) {
      this.peers = [...this.o.liveBrokers()].filter((b) => b !== this.o.nodeId).sort((a, b) => a - b);
      this.lastRoundStart = -Infinity;
    }
    if (this.activeNow && !f.writable(now)) this.setActive(false, this.lastRefusal || 'no fully granted round within the write window');
    if (this.inFlight) return;
    const due = this.lastRoundFull ? f.windows.roundIntervalMs : f.windows.roundIntervalMs / 4;
    if (now - this.lastRoundStart < due) return;
    void this.round(this.peers, now);
  }

  private async round(peers: number[], start: number): Promise<void> {
    this.inFlight = true;
    this.lastRoundStart = start;
    const body = { nodeId: this.o.nodeId, viewRevision: this.o.viewRevision() };
    const timeoutMs = this.o.failsafe.windows.roundIntervalMs;
    try {
      const refusals = (await Promise.all(peers.map(async (b) => {
        try {
          const res = await (await this.o.links(b)).request(Api.FailsafeCheck, body, timeoutMs);
          return res.granted ? undefined : `refused by broker ${b}: ${res.reason ?? 'no reason given'}`;
        } catch (err) {
          return `no answer from broker ${b}: ${(err as Error).message}`;
        }
      }))).filter((r): r is string => r !== undefined);
      if (peers.length === 0) refusals.push('no other live broker to grant it');
      if (this.stopped || this.peers !== peers) return; // the session came back meanwhile
      const full = refusals.length === 0;
      this.lastRoundFull = full;
      this.o.failsafe.roundEnded(start, full);
      if (full) {
        this.lastRefusal = '';
        this.setActive(this.o.failsafe.writable(), `etcd unreachable; every other broker (${peers.join(', ')}) granted`);
      } else {
        const reason = refusals.join('; ');
        if (reason !== this.lastRefusal) this.log.info('replication.failsafe.not-granted', { reason });
        this.lastRefusal = reason;
        this.setActive(false, reason);
      }
    } finally {
      this.inFlight = false;
    }
  }

  private setActive(active: boolean, reason: string): void {
    if (active === this.activeNow) return;
    this.activeNow = active;
    if (active) this.log.warn('replication.failsafe.on', { reason });
    else this.log.info('replication.failsafe.off', { reason });
  }
}
