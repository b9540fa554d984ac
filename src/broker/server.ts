/**
 * The broker process's server: one HTTP server on one port, WebSocket upgrades handed to
 * a `noServer` WebSocketServer, everything else routed through the HTTP route table.
 *
 * Metrics (docs/metrics.md): GET /metrics on the same port unless `metrics: false`, and
 * also on `metricsPort` when that is >= 0.
 *
 * Every upgrade response announces the broker's size limits as headers
 * (protocol/broker-limits.ts), so clients refuse an oversize request instead of sending it.
 *
 * Lifecycle: listen (the port is known and logged) -> open storage, which recovers every
 * log -> ready (upgrades accepted, /readyz 200). Until ready, upgrades get HTTP 503.
 * stop(): refuse new work, answer parked long polls, wait for in-flight requests (at most
 * shutdownTimeoutMs), close connections with 1001, close logs (flush + clean marker).
 *
 * Cluster mode (the `etcd` setting, docs/cluster.md): after the local storage is open, connect
 * to etcd and start this broker's ClusterNode (cluster-context.ts); the broker is ready only
 * once registered, and /readyz answers 503 while its etcd session is not valid (lost or
 * self-fenced), 200 again after it rejoins. Topics other than internal ones then come from
 * etcd and the local logs follow their placement (storage/placed-log-manager.ts). stop() is a
 * controlled shutdown: refuse produce, leave the cluster (resign, revoke the lease: the
 * controller moves this broker's leaderships at once), wait (at most shutdownTimeoutMs) until
 * the view shows no partition led here, then close as above.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { WebSocketServer, type WebSocket } from 'ws';
import { flagName, type BrokerConfig } from '../config/settings.js';
import type { LogManager } from '../storage/types.js';
import { ReadBufferPool } from '../storage/read-buffer-pool.js';
import { CLOSE_GOING_AWAY, CLOSE_IDLE, CLOSE_TRY_AGAIN_LATER } from '../protocol/frame-error.js';
import { limitHeaderLines, REFUSED_HEADER } from '../protocol/broker-limits.js';
import { CLIENT_ID_HEADER, quotaEntityProblem } from '../protocol/client-quota.js';
import { DELAYED_KINDS, type BrokerContext } from './context.js';
import { ProducerIdCounter } from '../storage/producer-id-counter.js';
import { Purgatory, partitionKey } from './purgatory.js';
import { BrokerBudget } from './output-budget.js';
import type { Logger } from './logger.js';
import { RequestPipeline } from './request-pipeline.js';
import { WsTransport } from './ws-transport.js';
import { nativeCodec, type FrameCodec } from './native-codec.js';
import { dispatch } from './dispatch.js';
import { defaultRoutes, routeRequest, type RouteTable } from './http-routes.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import { collectPartitionStats, followerMetrics, listenMetricsPort, setUpMetrics } from './metrics-setup.js';
import { GroupService } from './group-service.js';
import { ShareCoordinators, stopShareService } from './share-coordinators.js';
import { startCluster, type ClusterContext, type ClusterRuntime } from './cluster-context.js';
import { summarize } from '../cluster/cluster-status.js';
import { startReplication } from '../replication/start-replication.js';
import { GROUP_COORDINATOR_TOPIC, SHARE_COORDINATOR_TOPIC } from '../topic-name.js';
import { ReplicaFetcher } from '../replication/replica-fetcher.js';
import { FailsafeChecker } from '../replication/failsafe-checker.js';
import { newestRevision } from '../cluster/failsafe.js';
import { openFileBudget, storageOptions, type OpenLogsOptions } from './open-logs.js';
import type { OpenFileCache } from '../storage/open-file-cache.js';
import { PlacedLogManager } from '../storage/placed-log-manager.js';
import { nodeFileSystem } from '../storage/file-system.js';
import { HighWatermarkCheckpointer } from '../replication/high-watermark-checkpointer.js';
import { FileUserStore } from '../auth/file-user-store.js';
import { EtcdUserStore } from '../auth/etcd-user-store.js';
import type { UserStore } from '../auth/user-store.js';
import { FileAclStore } from '../auth/file-acl-store.js';
import { EtcdAclStore } from '../auth/etcd-acl-store.js';
import type { AclStore } from '../auth/acl-store.js';
import { Authorizer } from './authorize.js';
import { makeCredential, passwordMatches } from '../protocol/scram.js';
import { SluiceError } from '../errors.js';
import { ConnectionAuth, type AuthService } from './connection-auth.js';
import { LoginDelay } from './login-delay.js';
import { isLoopbackHost, serverTlsOptions, tlsOn } from './tls-files.js';
import { ConnectionLimits, type Refusal } from './connection-limits.js';
import { ClientQuotas } from './client-quotas.js';
import { FileQuotaStore } from '../auth/file-quota-store.js';
import { EtcdQuotaStore } from '../auth/etcd-quota-store.js';
import type { QuotaStore } from '../auth/quota-store.js';

export type OpenLogs = (config: BrokerConfig, log: Logger, opts?: OpenLogsOptions) => Promise<LogManager>;

const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

export class Broker {
  readonly routes: RouteTable;
  readonly metrics: BrokerMetrics;
  private metricsServer: Server | TlsServer | undefined;
  private readonly http: Server | TlsServer;
  /** `auth: scram`: what every connection's login shares (set once the user store is open). */
  private auth: AuthService | undefined;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<RequestPipeline>();
  private ctx: BrokerContext | undefined;
  private cluster: ClusterRuntime | undefined;
  /** The LRU of open segment files every log of this broker shares (set in start). */
  private openFiles: OpenFileCache | undefined;
  private follower: ReplicaFetcher | undefined;
  private failsafe: FailsafeChecker | undefined;
  private hwCheckpoint: HighWatermarkCheckpointer | undefined;
  private ready = false;
  private stopping: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  /** One codec for every connection: its frame limits come from the config. */
  private readonly codec: FrameCodec;
  /** maxConnections, maxConnectionsPerIp, maxConnectionCreationRatePerIp (connection-limits.ts). */
  private readonly limits: ConnectionLimits;
  /** Upgrades refused for a limit, until their 101 response is written (the `headers` event marks them). */
  private readonly refusals = new WeakMap<import('node:http').IncomingMessage, Refusal>();
  /** connectionsMaxIdleMs: the sweep that closes idle connections. */
  private idleSweep: NodeJS.Timeout | undefined;

  constructor(readonly config: BrokerConfig, private readonly log: Logger, private readonly openLogs: OpenLogs) {
    this.routes = defaultRoutes(() => this.notReady());
    this.metrics = setUpMetrics(config, this.routes);
    const route = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => routeRequest(this.routes, req, res);
    // With TLS, the certificate is loaded in start() (setSecureContext): a file that cannot be
    // read is then a start-up failure naming its setting, like any other.
    const tls = config.tls;
    this.http = tlsOn(config)
      ? createTlsServer({ requestCert: tls.requireClientCert, rejectUnauthorized: tls.requireClientCert }, route)
      : createServer(route);
    // A plaintext client, an unknown client CA, a broken handshake: the socket is closed, as Node does by default, and logged at debug.
    this.http.on('tlsClientError', (err: Error, socket: Duplex) => {
      this.log.debug('tls.handshake-failed', { remote: remoteOf(socket), error: err.message });
    });
    this.codec = nativeCodec(config.maxRequestMsgpackBytes);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false });
    const limits = limitHeaderLines(config);
    this.wss.on('headers', (headers: string[], req: import('node:http').IncomingMessage) => {
      headers.push(...limits);
      if (this.refusals.has(req)) headers.push(`${REFUSED_HEADER}: 1`);
    });
    this.limits = new ConnectionLimits(config);
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Listens, recovers storage, then accepts requests. Resolves with the bound port. */
  async start(): Promise<number> {
    const { host, port } = this.config;
    // Before listening: a file budget that does not fit under the limit stops start-up.
    const openFiles = openFileBudget(this.config, this.log);
    this.openFiles = openFiles;
    if (tlsOn(this.config)) (this.http as TlsServer).setSecureContext(await serverTlsOptions(this.config));
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => reject(listenFailed(err, 'port', host, port));
      this.http.once('error', failed);
      this.http.listen(port, host, () => {
        this.http.off('error', failed);
        resolve();
      });
    });
    const bound = (this.http.address() as AddressInfo).port;
    this.log.info('listening', { host, port: bound, url: `${tlsOn(this.config) ? 'wss' : 'ws'}://${host}:${bound}`, version: VERSION });
    this.warnIfExposed();
    const started = Date.now();
    if (this.metrics.enabled && this.config.metricsPort >= 0) {
      const metricsTls = this.config.tls.metricsPort ? await serverTlsOptions(this.config) : undefined;
      const m = await listenMetricsPort(this.metrics, host, this.config.metricsPort, metricsTls)
        .catch((err: Error) => { throw listenFailed(err, 'metricsPort', host, this.config.metricsPort); });
      this.metricsServer = m.server;
      this.log.info('metrics listening', { host, port: m.port, url: `${metricsTls ? 'https' : 'http'}://${host}:${m.port}/metrics` });
    }
    const metrics = this.metrics;
    metrics.collectOpenFiles(() => openFiles.stats());
    const storage: OpenLogsOptions = metrics.enabled ? { onFsync: (s) => metrics.fsync(s), metrics, openFiles } : { openFiles };
    let logs = await this.openLogs(this.config, this.log, storage);
    if (this.config.etcd !== undefined) logs = await this.joinCluster(logs, bound, storage);
    logs.events.onListenerError = (event, err) => this.log.error('topic event listener failed', { event, error: err });
    collectPartitionStats(metrics, logs);
    const groups = await GroupService.open(this.config, logs, this.log, metrics);
    const output = new BrokerBudget(this.config.maxBufferedBytes, (delta) => metrics.addReservedBytes(delta));
    const delayed = new Purgatory(DELAYED_KINDS);
    metrics.collectDelayedOperations(() => delayed.sizes());
    // Long polls parked on a deleted topic's partitions answer at once (UNKNOWN_TOPIC_OR_PARTITION).
    logs.events.on('topicDeleted', (e) => { for (let p = 0; p < e.partitions; p++) delayed.finish(partitionKey(e.topic, p)); });
    this.ctx = {
      config: this.config, logs, readPool: new ReadBufferPool(), output, delayed, log: this.log, version: VERSION, metrics, groups,
      // Unique across the cluster: blocks claimed in etcd; on a single node, a counter in the data dir.
      producerIds: this.cluster ? this.cluster.ctx.producerIds : new ProducerIdCounter(logs.dataDir), accepting: true,
    };
    if (this.cluster) this.ctx.cluster = this.cluster.ctx;
    this.ctx.users = await this.openUsers(logs.dataDir);
    this.ctx.quotas = new ClientQuotas(await this.openQuotaStore(logs.dataDir), {
      byUser: this.config.auth === 'scram', exemptUser: this.config.interBrokerUser, metrics,
    });
    this.startIdleSweep();
    this.ctx.acls = await this.openAcls(logs.dataDir);
    if (this.config.auth === 'scram') {
      this.ctx.authorizer = new Authorizer(this.ctx.acls, this.config);
      groups.useAuthorizer(this.ctx.authorizer);
    }
    const shares = await ShareCoordinators.start(this.ctx);
    if (this.ctx.cluster) {
      await this.startReplication(this.ctx, this.ctx.cluster, shares);
      // Ready once the controller handled this life (KIP-380, as a Kafka broker waits to be
      // unfenced): a client sent here meanwhile would meet NOT_LEADER_OR_FOLLOWER for
      // partitions Metadata names this broker the leader of.
      await this.ctx.cluster.node.untilEpochHandled();
    }
    this.ready = true;
    const topics = logs.topics();
    this.log.info('ready', { port: bound, dataDir: logs.dataDir, topics: topics.length, recoveryMs: Date.now() - started });
    return bound;
  }

  /**
   * Cluster mode: connects to etcd, registers, and returns the log manager whose non-internal
   * topics follow etcd and their placement. On failure the logs opened so far are closed and the
   * error (naming the setting to fix) stops start-up.
   */
  private async joinCluster(fileLogs: LogManager, bound: number, storage: OpenLogsOptions): Promise<LogManager> {
    try {
      this.cluster = await startCluster(this.config, bound, this.log);
      const c = this.cluster.ctx;
      const metrics = this.metrics;
      metrics.collectCluster(() => ({
        sessionUp: c.node.hasSession, controllerActive: c.node.isController,
        liveBrokers: c.node.directory.brokers().size, leaderElections: c.leaderElections.count,
        // The controller's count only, as Kafka's OfflinePartitionsCount: summed over brokers it counts each partition once.
        offlinePartitions: c.node.isController ? summarize(c.node.directory.brokers(), [...c.node.view.partitions()], c.nodeId).offline.length : 0,
        failsafeActive: this.failsafe?.active === true,
        // As offlinePartitions: the controller's count only, so the sum over brokers counts each partition once.
        preferredLeaderImbalance: c.node.isController ? [...c.node.view.partitions()].filter((p) => p.state.replicas.length > 0 && p.state.leader !== p.state.replicas[0]).length : 0,
        leaderImbalanceChecks: c.leaderRebalance.checks, autoLeaderElections: c.leaderRebalance.elections,
        ...throttleOf(this.follower),
      }));
      c.node.on('sessionLost', (err) => { this.log.warn('not ready: etcd session lost; rejoining', { error: err.message }); });
      c.node.on('registered', () => { this.log.info('registered', { nodeId: c.nodeId, brokerEpoch: c.node.brokerEpoch }); });
      // The file-backed manager's options (producerIdExpirationMs among them), for the data topics' logs.
      return await PlacedLogManager.open(fileLogs, c.store, { defaults: this.config.log, ...storageOptions(this.config, this.log, storage) });
    } catch (err) {
      await fileLogs.close().catch(() => {});
      await this.cluster?.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Cluster mode: this broker's replica roles (src/replication/). The follower copies leaders
   * over the cluster's links; the manager applies every partition state of the view and is
   * told when a partition's local log appears (a topic created or grown here, or a replica
   * placed here by a reassignment), since a role
   * needs the log. A high-watermark move wakes the long polls and acks=all produces parked on
   * the partition.
   */
  private async startReplication(ctx: BrokerContext, c: ClusterContext, shares: ShareCoordinators): Promise<void> {
    this.follower = new ReplicaFetcher({
      // The links are the broker's (cluster-context.ts closes them): stopping the follower leaves them open.
      nodeId: c.nodeId, links: c.links, logger: this.log, closeLinksOnStop: false,
      throttleBytesPerSec: this.config.reassignmentThrottleBytesPerSec,
      onError: (topic, partition, err) => { this.log.error('replica fetch stopped', { topic, partition, error: err }); },
      ...(this.metrics.enabled ? { metrics: followerMetrics(this.metrics) } : {}),
    });
    // Failsafe mode: while etcd is down for every broker, leaders go on acknowledging (docs/cluster.md, "Fencing").
    this.failsafe = new FailsafeChecker({
      nodeId: c.nodeId, failsafe: c.failsafe, links: c.links, sessionValid: () => c.node.hasSession,
      liveBrokers: () => c.node.directory.brokers().keys(), viewRevision: () => newestRevision(c.node.view.partitions()), logger: this.log,
    });
    this.failsafe.start();
    ctx.groups.startCluster(ctx, () => c.node.view.topic(GROUP_COORDINATOR_TOPIC)?.partitions,
      (p) => c.node.view.partition(GROUP_COORDINATOR_TOPIC, p)?.state.leader === c.nodeId, () => c.node.viewCaughtUp);
    shares.startCluster(() => c.node.view.topic(SHARE_COORDINATOR_TOPIC)?.partitions,
      (p) => c.node.view.partition(SHARE_COORDINATOR_TOPIC, p)?.state.leader === c.nodeId, () => c.node.viewCaughtUp);
    // Each partition's high watermark of this broker's previous life (docs/cluster.md, "Failover": high watermark across restarts).
    this.hwCheckpoint = await HighWatermarkCheckpointer.open(ctx.logs.dataDir, nodeFileSystem, this.log);
    const rm = startReplication({
      // Trusted, not only valid: a re-registered broker's view may still name it leader of partitions given away.
      nodeId: c.nodeId, client: c.node.client, view: c.node.view, sessionValid: () => c.node.sessionTrusted, failsafe: c.failsafe,
      // A restarted or re-registered broker leads nothing until the controller handled its new epoch (docs/cluster.md, "Failover").
      leadershipFenced: () => (c.node.epochHandled ? undefined
        : `broker ${c.nodeId} registered with broker epoch ${String(c.node.brokerEpoch)}, which the controller has not handled yet; retry`),
      logs: ctx.logs, follower: this.follower, replicaLagTimeMs: this.config.replicaLagTimeMs,
      onHighWatermark: (t, p) => { ctx.delayed.wakePartition(t, p); },
      ...(this.metrics.enabled ? { metrics: this.metrics } : {}), logger: this.log,
      onRoleChange: (t, p, role) => { ctx.groups.roleChanged(t, p, role); shares.roleChanged(t, p, role); },
      checkpoint: this.hwCheckpoint,
    });
    ctx.replicas = rm;
    c.node.on('epochHandled', () => { rm.refresh(); });
    ctx.logs.events.on('topicCreated', (e) => { rm.refresh(e.topic); });
    ctx.logs.events.on('partitionsAdded', (e) => { rm.refresh(e.topic); });
    // A reassignment places a replica of an existing topic here: its role waits for the log.
    if (ctx.logs instanceof PlacedLogManager) ctx.logs.onPlacementApplied((topic) => { rm.refresh(topic); });
  }

  /**
   * The user store (a data directory's users.json, or etcd in cluster mode), and with
   * `auth: scram` what logins share. In cluster mode the inter-broker user is created if no
   * broker did yet; an existing one must have this broker's interBrokerPassword, or start-up
   * stops saying so (the links to the other brokers could not log in).
   */
  private async openUsers(dataDir: string): Promise<UserStore> {
    const c = this.cluster?.ctx;
    const users: UserStore = c ? new EtcdUserStore(c.node.client, c.node.keys) : await FileUserStore.open(dataDir);
    const { config } = this;
    if (config.auth !== 'scram') return users;
    if (c && users instanceof EtcdUserStore) await checkInterBrokerUser(users, config.interBrokerUser!, config.interBrokerPassword!);
    this.auth = {
      users, delay: new LoginDelay(config.authFailureDelayMaxMs), timeoutMs: config.authTimeoutMs,
      interBrokerUser: config.interBrokerUser, log: this.log, metrics: this.metrics, fakeSaltKey: await users.fakeSaltKey(),
    };
    return users;
  }

  /** Client quotas: a single broker's quotas.json, or etcd in cluster mode (watched: a change through any broker applies here). */
  private openQuotaStore(dataDir: string): Promise<QuotaStore> {
    const c = this.cluster?.ctx;
    if (c === undefined) return FileQuotaStore.open(dataDir);
    return EtcdQuotaStore.open(
      c.node.client, c.node.keys,
      (key, err) => { this.log.warn('quota.invalid', { key, error: err.message }); },
      (err) => { this.log.error('quota.watch-failed', { error: err.message }); },
    );
  }

  /**
   * connectionsMaxIdleMs: every quarter of it (at most every 10 s), closes the connections
   * that have had nothing in flight and nothing bound to them (RequestPipeline.idleMs) for
   * that long, with CLOSE_IDLE: the client reconnects when it next sends.
   */
  private startIdleSweep(): void {
    const max = this.config.connectionsMaxIdleMs;
    if (max <= 0) return;
    this.idleSweep = setInterval(() => {
      const now = performance.now();
      for (const c of this.connections) {
        if (c.idleMs(now) < max) continue;
        this.log.debug('connection idle: closing', { remote: c.remote, connectionsMaxIdleMs: max });
        this.metrics.connectionIdleClosed();
        c.close(CLOSE_IDLE, `idle for ${max} ms (connectionsMaxIdleMs)`);
      }
    }, Math.min(10_000, Math.max(10, Math.floor(max / 4)))).unref();
  }

  /**
   * The ACL store beside the users (docs/security.md, "Authorization"): the data directory's
   * acls.json, or etcd in cluster mode, watched so a change through any broker applies here.
   */
  private async openAcls(dataDir: string): Promise<AclStore> {
    const c = this.cluster?.ctx;
    if (!c) return FileAclStore.open(dataDir);
    return EtcdAclStore.open(c.node.client, c.node.keys, {
      onInvalid: (key, problem) => { this.log.warn('acl.invalid', { key, problem }); },
      onError: (err) => { this.log.error('acl.watch-failed', { error: err.message }); },
    });
  }

  /** A listener other machines can reach, without auth or TLS: said at start-up, naming both. */
  private warnIfExposed(): void {
    const { host, auth } = this.config;
    const tls = tlsOn(this.config);
    if (isLoopbackHost(host) || (auth !== 'none' && tls)) return;
    this.log.warn('security.exposed', {
      host, auth, tls: tls ? 'on' : 'off',
      message: `listening on ${host}, reachable beyond this machine, with auth ${auth} and TLS ${tls ? 'on' : 'off'}: anyone who reaches the port ${auth === 'none' ? 'may read, write and delete everything' : 'may read the traffic'} (docs/security.md)`,
    });
  }

  /**
   * SIGHUP (run-broker.ts): reads the TLS files again and serves them to new connections;
   * open connections keep the certificate they were made with. A file that cannot be read
   * leaves the old certificate in place (logged).
   */
  async reloadTls(): Promise<void> {
    if (!tlsOn(this.config)) {
      this.log.info('tls.reload-skipped', { reason: 'TLS is off (no tls.certFile)' });
      return;
    }
    try {
      const options = await serverTlsOptions(this.config);
      (this.http as TlsServer).setSecureContext(options);
      if (this.config.tls.metricsPort) (this.metricsServer as TlsServer | undefined)?.setSecureContext(options);
      this.log.info('tls.reloaded', { certFile: this.config.tls.certFile });
    } catch (err) {
      this.log.error('tls.reload-failed', { error: (err as Error).message });
    }
  }

  /** Why /readyz answers 503, or undefined when ready. */
  private notReady(): string | undefined {
    if (this.stopping) return 'shutting down';
    if (!this.ready) return 'starting';
    const c = this.ctx?.cluster;
    if (c && !c.node.hasSession) return `broker ${c.nodeId} has no valid etcd session (lost or self-fenced); rejoining`;
    return undefined;
  }

  get port(): number {
    return (this.http.address() as AddressInfo | null)?.port ?? -1;
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private upgrade(req: import('node:http').IncomingMessage, socket: Duplex, head: Buffer): void {
    const ctx = this.ctx;
    if (!this.ready || !ctx || !ctx.accepting) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const ip = req.socket.remoteAddress ?? '?';
    const refused = this.limits.admit(ip);
    // The place is given back when the socket closes, whichever way: also when ws aborts the handshake.
    if (refused === undefined) socket.once('close', () => this.limits.closed(ip));
    else this.refusals.set(req, refused);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      if (refused !== undefined) {
        ctx.metrics.connectionRefused(refused.reason);
        this.log.debug('connection refused', { remote, reason: refused.reason, message: refused.message });
        ws.close(CLOSE_TRY_AGAIN_LATER, Buffer.from(refused.message).subarray(0, 123).toString());
        return;
      }
      // The upgraded socket is handed to the transport here, where it is public; ws keeps
      // its own reference in a private field that nothing else should read.
      const transport = new WsTransport(ws, socket, remote, { pingIntervalMs: this.config.pingIntervalMs, log: this.log });
      const auth = this.auth ? new ConnectionAuth(this.auth, remote, (code, reason) => transport.close(code, reason)) : undefined;
      const conn = new RequestPipeline(transport, ctx, {
        codec: this.codec, ordered: false, onIdle: () => this.checkIdle(), auth, clientId: clientIdOf(req),
        dispatch: (r, scope) => dispatch(ctx, r, scope),
        onClosed: () => {
          ctx.metrics.connectionClosed();
          this.connections.delete(conn);
          this.checkIdle();
        },
      });
      this.connections.add(conn);
      ctx.metrics.connectionOpened();
      this.log.debug('connection opened', { remote });
    });
  }

  private leaveCluster(c: NonNullable<BrokerContext['cluster']>): Promise<void> {
    return leaveClusterOf({ log: this.log, config: this.config }, c);
  }

  private inFlight(): number {
    let n = 0;
    for (const c of this.connections) n += c.inFlight;
    return n;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length && this.inFlight() === 0) for (const fn of this.idleWaiters.splice(0)) fn();
  }

  private async shutdown(): Promise<void> {
    this.log.info('shutting down', { connections: this.connections.size, inFlight: this.inFlight() });
    this.ready = false;
    const ctx = this.ctx;
    if (ctx?.cluster) await this.leaveCluster(ctx.cluster);
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    if (ctx) {
      ctx.accepting = false;
      ctx.delayed.finishAll();
      if (this.inFlight() > 0) {
        const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.config.shutdownTimeoutMs); });
        await Promise.race([idle, timeout]);
        clearTimeout(timer);
        if (this.inFlight() > 0) this.log.warn('shutdown timeout: closing with requests in flight', { inFlight: this.inFlight() });
      }
    }
    clearInterval(this.idleSweep);
    for (const c of this.connections) c.close(CLOSE_GOING_AWAY, 'broker shutting down');
    this.http.closeAllConnections();
    // Replication stops before the logs close: no append or truncation may run into a closed log.
    this.failsafe?.stop();
    await ctx?.replicas?.stop();
    // Before the follower stops: a follower's high watermark is the fetcher's to tell.
    await this.hwCheckpoint?.stop();
    await this.follower?.stop();
    if (ctx) await stopShareService(ctx);
    if (ctx) await ctx.groups.close();
    await ctx?.quotas?.store.close();
    if (ctx) await ctx.logs.close();
    await ctx?.acls?.close();
    await this.cluster?.close();
    await closed;
    const ms = this.metricsServer;
    if (ms) {
      // Prometheus keeps its scrape connection alive; close() alone would wait for it.
      const msClosed = new Promise<void>((resolve) => ms.close(() => resolve()));
      ms.closeAllConnections();
      await msClosed;
    }
    this.log.info('stopped', {});
  }
}

/**
 * Controlled shutdown: refuse produce, leave (resign and revoke: the controller moves this
 * broker's leaderships at once), then wait until the view shows none led here, at most
 * shutdownTimeoutMs (no other broker alive: nobody can take them over).
 */
async function leaveClusterOf(broker: { log: Logger; config: BrokerConfig }, c: NonNullable<BrokerContext['cluster']>): Promise<void> {
  c.leaving = true;
  const view = c.node.view;
  const led = (): string[] => [...view.partitions()].filter((s) => s.state.leader === c.nodeId).map((s) => `${s.topic}-${s.partition}`);
  const started = Date.now();
  broker.log.info('controlled shutdown: leaving the cluster', { nodeId: c.nodeId, leading: led() });
  await c.node.leave();
  if (led().length > 0) {
    await new Promise<void>((resolve) => {
      const check = (): void => { if (led().length === 0) done(); };
      const timer = setTimeout(() => done(), broker.config.shutdownTimeoutMs);
      const done = (): void => { clearTimeout(timer); view.off('partition', check); resolve(); };
      view.on('partition', check);
      check();
    });
  }
  const left = led();
  if (left.length === 0) broker.log.info('controlled shutdown: leaderships moved', { waitedMs: Date.now() - started });
  else broker.log.warn('controlled shutdown: still leading after shutdownTimeoutMs (no other in-sync replica alive?)', { waitedMs: Date.now() - started, leading: left });
}

/**
 * Cluster mode, `auth: scram`: the inter-broker user exists in etcd with this broker's
 * password (the first broker to start creates it). Checked by recomputing the StoredKey from
 * the password and the stored salt, as a login would.
 */
async function checkInterBrokerUser(users: EtcdUserStore, name: string, password: string): Promise<void> {
  if (await users.createIfAbsent(name, await makeCredential(password))) return;
  const have = await users.lookup(name);
  if (!have) return; // deleted meanwhile: the next start creates it again
  if (!(await passwordMatches(have, password))) {
    throw new SluiceError('INVALID_CONFIG', `the inter-broker user ${JSON.stringify(name)} in etcd has another password than this broker's (setting 'interBrokerPassword', flag --${flagName('interBrokerPassword')}): every broker of the cluster needs the same`);
  }
}

/** The client id the upgrade announced (protocol/client-quota.ts); one that could not name a quota entry counts as none. */
function clientIdOf(req: import('node:http').IncomingMessage): string {
  const v = req.headers[CLIENT_ID_HEADER];
  if (typeof v !== 'string' || v === '') return '';
  return quotaEntityProblem({ type: 'client-id', name: v }) === undefined ? v : '';
}

function remoteOf(socket: Duplex): string {
  const s = socket as { remoteAddress?: string; remotePort?: number };
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
}

/** A listen error naming the setting and its flag, so the user knows which one to change. */
function listenFailed(err: Error & { code?: string }, setting: string, host: string, port: number): Error {
  return Object.assign(new Error(`cannot listen on ${host}:${port} (setting '${setting}', flag --${flagName(setting)}): ${err.message}`, { cause: err }), { code: err.code });
}

/** The follower's reassignment throttle totals for the cluster metrics; nothing when no throttle is set (or before replication starts). */
function throttleOf(follower: ReplicaFetcher | undefined): { throttle?: { bytes: number; waitedMs: number } } {
  const t = follower?.throttleStats();
  return t === undefined ? {} : { throttle: t };
}
