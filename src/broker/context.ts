/**
 * What every api handler may use. Handlers get this plus their typed request and return
 * the response (or undefined for no response: acks 0); they never touch sockets.
 */
import type { BrokerConfig } from '../config/settings.js';
import type { LogManager } from '../storage/types.js';
import type { ReadBufferPool } from '../storage/read-buffer-pool.js';
import type { Logger } from './logger.js';
import type { Purgatory } from './purgatory.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { GroupService } from './group-service.js';
import type { BrokerBudget } from './output-budget.js';
import type { ClusterContext } from './cluster-context.js';
import type { ReplicaManager } from '../replication/replica-manager.js';
import type { ProducerIdSource } from '../storage/producer-id-counter.js';
import type { UserStore } from '../auth/user-store.js';
import type { ConnectionAuth } from './connection-auth.js';
import type { ClientQuotas } from './client-quotas.js';
import type { AclStore } from '../auth/acl-store.js';
import type { Authorizer } from './authorize.js';

/** The kinds of delayed operation, the `kind` label of sluice_delayed_operations. */
export const DELAYED_KINDS = ['fetch', 'share_acquire', 'produce'] as const;
export type DelayedKind = (typeof DELAYED_KINDS)[number];

export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly logs: LogManager;
  /** Read buffers for Fetch; a connection returns them once the response is written. */
  readonly readPool: ReadBufferPool;
  /** Response bytes held across connections (maxBufferedBytes); each connection draws on it. */
  readonly output: BrokerBudget;
  /** Long polls (Fetch, ShareAcquire) parked until a key they watch is woken or they expire. */
  readonly delayed: Purgatory<DelayedKind>;
  readonly log: Logger;
  readonly version: string;
  /** Always present: the no-op implementation when `metrics: false`, so call sites stay unconditional. */
  readonly metrics: BrokerMetrics;
  /** Consumer group coordinator and offset store; it follows topic changes through logs.events. */
  readonly groups: GroupService;
  /**
   * Cluster mode only (docs/cluster.md): this broker's replica roles. Produce, Fetch,
   * ListOffsets and OffsetsForLeaderEpoch serve only partitions it leads, consumers only below
   * the high watermark. Absent on a single broker: the handlers do what they always did.
   */
  replicas?: ReplicaManager | undefined;
  /**
   * Where InitProducerId takes producer ids: single node, the counter in the data directory
   * (storage/producer-id-counter.ts); cluster mode, ProducerIdAllocator over etcd
   * (cluster/producer-id-blocks.ts), which the cluster start-up puts here instead.
   */
  readonly producerIds: ProducerIdSource;
  /** False once shutdown began: new requests get BROKER_SHUTTING_DOWN, long polls end. */
  accepting: boolean;
  /** Cluster mode only (the `etcd` setting): membership, view, links to other brokers (cluster-context.ts). */
  cluster?: ClusterContext;
  /** SCRAM users (docs/security.md): the data directory's users.json, or etcd in cluster mode. */
  users?: UserStore;
  /** Byte-rate quotas per user or client id (client-quotas.ts); the request pipeline meters produce and fetch with it. */
  quotas?: ClientQuotas;
  /** ACL bindings (docs/security.md, "Authorization"): the data directory's acls.json, or etcd in cluster mode, watched. */
  acls?: AclStore;
  /** `auth: scram` only: checks each request's principal against `acls` (authorize.ts). Absent: nothing is checked. */
  authorizer?: Authorizer;
}

/** The connection a request arrived on, as far as a handler needs to know it. */
export interface RequestScope {
  readonly closed: boolean;
  /** Runs `fn` when the connection closes; returns a function that unregisters it. */
  onClose(fn: () => void): () => void;
  /** Sends an unsolicited frame on this connection (`{ id: 0, push, ... }`). */
  push(msg: object): void;
  /**
   * Waits until the connection's and the broker's output budgets have room (output-budget.ts),
   * then reserves up to `want` bytes for a response about to be read; resolves with the bytes
   * reserved, at least 1, or 0 once the connection is closed (read nothing then).
   */
  reserveOutput(want: number): Promise<number>;
  /** Changes this request's reservation by `delta` bytes (negative gives back). */
  adjustOutput(delta: number): void;
  /** `bytes` of reservation travel in `res`: the connection gives them back once it queued `res` on the socket. */
  holdUntilSent(res: object, bytes: number): void;
  /**
   * Who sent the request (docs/security.md): the user the connection authenticated as, with
   * `auth: scram`; undefined with `auth: none`. What an authorizer checks.
   */
  readonly principal?: string | undefined;
  /** The client id the connection announced ('' when none): with `principal`, whose quota applies (client-quotas.ts). */
  readonly clientId?: string;
  /** The connection's login (`auth: scram` only): the SASL handlers drive it. */
  readonly auth?: ConnectionAuth | undefined;
}
