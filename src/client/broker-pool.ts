/**
 * The connections of one client object, and which one a request goes to.
 *
 * - The **home** connection is opened on the bootstrap list (client/broker-list.ts): the
 *   first bootstrap broker that answers, and another one of the list after a drop
 *   (client/connection.ts). Metadata, groups, queues and admin go there: any live broker
 *   answers them (a broker forwards topic admin to its controller).
 * - In a **cluster** (the Metadata answer names brokers), produce and fetch go to each
 *   partition's leader: one connection per broker, by the URL it advertises, opened when
 *   first needed and reused; the home connection counts as the connection to the broker it
 *   is connected to, so a client never holds two sockets to one broker on its own account.
 * - On a **single broker** (no brokers in Metadata) every route is the home connection.
 *
 * Every connection of the pool is closed by `close()`.
 */
import type { MetadataResponse } from '../protocol/api.js';
import { Api } from '../protocol/api.js';
import { SluiceError } from '../errors.js';
import { normalizeUrl, type BootstrapOptions } from './broker-list.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { NetworkError } from './errors.js';
import { MetadataCache } from './metadata-cache.js';

/** Makes a connection to `urls` (one URL, or the bootstrap list for the home connection). Tests hand in fakes. */
export type ConnectionFactory = (urls: readonly string[], opts: ConnectionOptions) => Connection;

export const defaultConnectionFactory: ConnectionFactory = (urls, opts) => new Connection(urls, opts);

/** Where the brokers are and how to connect: what every client class takes. */
export interface ClientOptions extends BootstrapOptions, ConnectionOptions {
  /** Makes the client's connections; for tests and custom transports. Default: a WebSocket Connection. */
  connectionFactory?: ConnectionFactory;
}

/** Errors after which a partition's leader may have moved: refresh metadata before the retry. */
const LEADER_ERRORS = new Set(['NOT_LEADER_OR_FOLLOWER', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NOT_ENOUGH_REPLICAS']);
/** The same in a cluster only: on a single broker they mean what they meant before (no refresh). */
const CLUSTER_ERRORS = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'NETWORK_ERROR', 'REQUEST_TIMED_OUT']);

/** Whether `err`, from a produce or fetch of a partition, calls for a metadata refresh before retrying. */
export function needsRefresh(err: unknown, clustered: boolean): boolean {
  if (!(err instanceof SluiceError)) return false;
  return LEADER_ERRORS.has(err.code) || (clustered && CLUSTER_ERRORS.has(err.code));
}

/** Where one partition's requests go now. */
export interface Route {
  conn: Connection;
  /** The leader epoch Metadata gave (cluster mode), for Fetch's currentLeaderEpoch; undefined on a single broker. */
  leaderEpoch: number | undefined;
}

/**
 * Why a partition has no route now (cluster mode): it is offline (leader -1), or its leader
 * is not among the live brokers Metadata listed, or the connection to the leader is down and
 * reconnecting. The caller waits (refresh, backoff) instead of sending.
 */
export class NoLeaderError extends SluiceError {
  constructor(readonly topic: string, readonly partition: number, why: string) {
    super('NOT_LEADER_OR_FOLLOWER', `${topic}/${partition}: ${why}`);
  }
}

/** The items of one leader's request (BrokerPool.byLeader), each with the leader epoch of its route. */
export interface LeaderGroup<T> {
  items: T[];
  leaderEpochs: (number | undefined)[];
}

export class BrokerPool {
  readonly home: Connection;
  readonly meta: MetadataCache;
  private readonly byUrl = new Map<string, Connection>();
  private closed = false;

  constructor(bootstrap: readonly string[], private readonly opts: ConnectionOptions, private readonly factory: ConnectionFactory = defaultConnectionFactory) {
    this.home = factory(bootstrap, opts);
    this.meta = new MetadataCache((topics) => this.metadata(topics));
  }

  /**
   * The connection for a partition's produce or fetch: the home connection on a single
   * broker or while its leader is not known yet (a broker that does not lead it answers
   * NOT_LEADER_OR_FOLLOWER, and the caller refreshes); its leader's in a cluster. Throws
   * NoLeaderError when the partition has no reachable leader now.
   */
  route(topic: string, partition: number): Route {
    const meta = this.meta;
    if (!meta.clustered) return { conn: this.home, leaderEpoch: undefined };
    const r = meta.route(topic, partition);
    if (!r) return { conn: this.home, leaderEpoch: undefined };
    if (r.leader < 0) throw new NoLeaderError(topic, partition, 'the partition is offline (no leader)');
    const url = meta.brokerUrl(r.leader);
    if (url === undefined) throw new NoLeaderError(topic, partition, `its leader, broker ${r.leader}, is not among the live brokers`);
    const conn = this.forUrl(url);
    // A request to a connection that is reconnecting would wait for it up to its timeout;
    // the leader is probably gone, and the next Metadata will say who took over.
    if (conn.reconnecting) throw new NoLeaderError(topic, partition, `the connection to its leader, broker ${r.leader} at ${url}, is down`);
    return { conn, leaderEpoch: r.leaderEpoch };
  }

  /**
   * `items` grouped by the connection their partition's requests go to now (`route`), in
   * order, one group per leader; an item whose partition has no reachable leader goes to
   * `noLeader` instead (the caller waits for a refresh and a backoff).
   */
  byLeader<T extends { topic: string; partition: number }>(items: Iterable<T>, noLeader: (item: T, err: NoLeaderError) => void): Map<Connection, LeaderGroup<T>> {
    const groups = new Map<Connection, LeaderGroup<T>>();
    for (const item of items) {
      let r: Route;
      try {
        r = this.route(item.topic, item.partition);
      } catch (err) {
        if (!(err instanceof NoLeaderError)) throw err;
        noLeader(item, err);
        continue;
      }
      let g = groups.get(r.conn);
      if (!g) groups.set(r.conn, g = { items: [], leaderEpochs: [] });
      g.items.push(item);
      g.leaderEpochs.push(r.leaderEpoch);
    }
    return groups;
  }

  /** The connection to the broker at `url` (the home connection when it is connected there). */
  forUrl(url: string): Connection {
    const key = normalizeUrl(url);
    if (normalizeUrl(this.home.url) === key && !this.home.reconnecting) return this.home;
    let c = this.byUrl.get(key);
    if (!c) {
      c = this.factory([url], this.opts);
      this.byUrl.set(key, c);
      if (this.closed) void c.close();
    }
    return c;
  }

  /**
   * Metadata for `topics` from the home connection; in a cluster, when home cannot answer
   * (it is down or reconnecting), from the other live brokers in turn.
   */
  private async metadata(topics: string[]): Promise<MetadataResponse> {
    const body = { topics };
    const others = this.meta.clustered ? this.meta.brokerUrls().map((u) => this.forUrl(u)).filter((c) => c !== this.home) : [];
    if (others.length === 0 || !this.home.reconnecting) {
      try {
        return await this.home.request(Api.Metadata, body);
      } catch (err) {
        if (others.length === 0 || !retriable(err)) throw err;
      }
    }
    let last: unknown = new NetworkError(this.home.url, `no broker answered Metadata`);
    for (const c of others) {
      if (c.reconnecting) continue;
      try {
        return await c.request(Api.Metadata, body);
      } catch (err) {
        if (!retriable(err)) throw err;
        last = err;
      }
    }
    throw last;
  }

  /** Closes every connection; requests in flight fail with CLIENT_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.home.close(), ...[...this.byUrl.values()].map((c) => c.close())]);
  }
}

function retriable(err: unknown): boolean {
  return err instanceof SluiceError && err.retriable;
}
