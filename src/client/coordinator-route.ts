/**
 * Where one group's requests go (docs/cluster.md, "Coordinators"): to the broker that
 * coordinates the group. It starts at the home connection, which on a single broker is the
 * coordinator of every group, so a single-node client sends exactly what it sent before
 * cluster mode. A group request that comes back with NOT_COORDINATOR,
 * COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS (whole request, or any
 * partition of an OffsetCommit), or, once the client knows it talks to a cluster, a
 * dropped connection, makes it ask FindCoordinator (home first, then the other live
 * brokers), switch to the broker named there and send the request again, with backoff,
 * up to `maxAttempts` sends. Group members keep their member id across a move: the new
 * coordinator answers UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH if it does not know the
 * member's epoch, and the member rejoins (client/group-member.ts).
 *
 * Rebalance pushes come on the coordinator's connection: every connection this route has
 * used hands its pushes to the listeners (they filter by group id).
 */
import { Api, type ApiKey } from '../protocol/api.js';
import type { BodyOf, ResponseOf } from '../protocol/api-table.js';
import { SluiceError } from '../errors.js';
import { errorName } from '../protocol/errors.js';
import type { BrokerPool } from './broker-pool.js';
import type { Connection } from './connection.js';
import type { Logger } from './logger.js';

/** What a group's requests need of a connection: the Connection subset GroupMember and GroupSession use. */
export interface GroupLink {
  request<A extends ApiKey>(api: A, body: BodyOf<A>, timeoutMs?: number): Promise<ResponseOf<A>>;
  onPush(fn: (msg: Record<string, unknown>) => void): () => void;
}

/** Errors that mean "the coordinator is elsewhere, or not ready yet": find it again and retry. */
const COORDINATOR_ERRORS = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']);

export interface CoordinatorRouteOptions {
  retryBackoffMs: number;
  logger: Logger;
  /** Sends of one request before its last error is thrown. Default 8 (backoff doubling to 1 s between). */
  maxAttempts?: number;
  /** Which coordinator FindCoordinator is asked for: 'group' (consumer groups, the default) or 'share' (queue mode). */
  keyType?: 'group' | 'share';
}

export class CoordinatorRoute implements GroupLink {
  /** The coordinator's connection once FindCoordinator named one; undefined: home. */
  private current: Connection | undefined;
  private readonly listeners = new Set<(msg: Record<string, unknown>) => void>();
  private readonly lostListeners = new Set<(conn: Connection, err: Error) => void>();
  private readonly heard = new WeakSet<Connection>();
  /** Node id FindCoordinator named last (-1: the broker answering; undefined: never asked). */
  coordinatorId: number | undefined;
  /**
   * How many times a request found the coordinator gone, moved or reloading (the errors that
   * send it to FindCoordinator). State the coordinator kept for this client only in memory
   * before that (a share group's locks) may be held by nobody now: QueueConsumer drops the
   * jobs it acquired before and has not handed out.
   */
  moves = 0;

  constructor(private readonly pool: BrokerPool, readonly groupId: string, private readonly o: CoordinatorRouteOptions) {}

  onPush(fn: (msg: Record<string, unknown>) => void): () => void {
    this.listeners.add(fn);
    this.listen(this.current ?? this.pool.home);
    return () => { this.listeners.delete(fn); };
  }

  /**
   * Calls `fn` with the connection and its error whenever a connection this route has used
   * drops or closes (Connection.onLost). Returns an unsubscribe.
   */
  onLost(fn: (conn: Connection, err: Error) => void): () => void {
    this.lostListeners.add(fn);
    this.listen(this.current ?? this.pool.home);
    return () => { this.lostListeners.delete(fn); };
  }

  /** `sentOn`: told the connection of each send (a retry may take another), before the send. */
  async request<A extends ApiKey>(api: A, body: BodyOf<A>, timeoutMs?: number, sentOn?: (conn: Connection) => void): Promise<ResponseOf<A>> {
    const max = this.o.maxAttempts ?? 8;
    let backoff = this.o.retryBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const conn = this.connection();
        sentOn?.(conn);
        const res = await conn.request(api, body, timeoutMs);
        if (api === Api.OffsetCommit) throwIfMoved(res as ResponseOf<typeof Api.OffsetCommit>, this.groupId);
        if (api === Api.ShareDescribe) throwIfDescribeMoved(res as ResponseOf<typeof Api.ShareDescribe>, this.groupId);
        return res;
      } catch (err) {
        if (!this.moved(err)) throw err;
        this.moves++;
        if (attempt >= max) throw err;
        this.o.logger.debug({ groupId: this.groupId, attempt, error: (err as Error).message }, `group '${this.groupId}': finding its coordinator again`);
        this.current = undefined;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 1000);
        await this.find().catch(() => { /* tried again on the next attempt */ });
      }
    }
  }

  /** Asks FindCoordinator (home first, then the other live brokers) and routes there; returns the node id. */
  async find(): Promise<number> {
    const meta = this.pool.meta;
    const others = meta.clustered ? meta.brokerUrls().map((u) => this.pool.forUrl(u)).filter((c) => c !== this.pool.home) : [];
    const candidates = [this.pool.home, ...others].filter((c, i) => i === 0 || !c.reconnecting);
    let last: unknown = new SluiceError('COORDINATOR_NOT_AVAILABLE', `no broker answered FindCoordinator for group '${this.groupId}'`);
    for (const c of candidates) {
      try {
        const res = await c.request(Api.FindCoordinator, { key: this.groupId, ...(this.o.keyType === 'share' && { keyType: 'share' as const }) });
        this.coordinatorId = res.nodeId;
        this.current = res.nodeId < 0 || res.url === undefined ? c : this.pool.forUrl(res.url);
        this.listen(this.current);
        return res.nodeId;
      } catch (err) {
        last = err;
        if (!(err instanceof SluiceError && err.retriable)) throw err;
      }
    }
    throw last;
  }

  /** The connection to send on now: the coordinator's, or home while none is known. */
  private connection(): Connection {
    const c = this.current;
    if (c && c !== this.pool.home && c.reconnecting) {
      // Its broker is probably gone; waiting for the reconnect would only delay finding the new one.
      throw new SluiceError('COORDINATOR_NOT_AVAILABLE', `the connection to the coordinator of group '${this.groupId}' (${c.url}) is down`);
    }
    return c ?? this.pool.home;
  }

  private moved(err: unknown): boolean {
    if (!(err instanceof SluiceError)) return false;
    if (COORDINATOR_ERRORS.has(err.code)) return true;
    // A drop means a move only in a cluster: on a single broker it is what it always was.
    return err.code === 'NETWORK_ERROR' && (this.pool.meta.clustered || this.coordinatorId !== undefined);
  }

  private listen(conn: Connection): void {
    if (this.heard.has(conn)) return;
    this.heard.add(conn);
    // Lives as long as the connection (the pool's, closed with the client), so never unsubscribed.
    conn.onPush((msg) => { for (const fn of this.listeners) fn(msg); });
    conn.onLost((err) => { for (const fn of this.lostListeners) fn(conn, err); });
  }
}

/** A ShareDescribe of this group answered NOT_COORDINATOR (or loading) for it: thrown, to be retried at the coordinator. */
function throwIfDescribeMoved(res: ResponseOf<typeof Api.ShareDescribe>, groupId: string): void {
  const g = res.groups.find((x) => x.groupId === groupId);
  if (g === undefined || !('error' in g)) return;
  const name = errorName(g.error.code);
  if (COORDINATOR_ERRORS.has(name)) throw new SluiceError(name, `describe share group '${groupId}': ${g.error.message}`);
}

/** An OffsetCommit whose partitions failed because the coordinator moved: thrown as that error, to be retried whole. */
function throwIfMoved(res: ResponseOf<typeof Api.OffsetCommit>, groupId: string): void {
  const p = res.partitions.find((x) => x.error !== undefined && COORDINATOR_ERRORS.has(errorName(x.error.code)));
  if (!p) return;
  const name = errorName(p.error!.code);
  throw new SluiceError(name, `commit to group '${groupId}' (${p.topic}/${p.partition}): ${p.error!.message}`);
}
