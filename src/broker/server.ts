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
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { WebSocketServer, type WebSocket } from 'ws';
import { flagName, type BrokerConfig } from '../config/settings.js';
import type { LogManager } from '../storage/types.js';
import { ReadBufferPool } from '../storage/read-buffer-pool.js';
import { CLOSE_GOING_AWAY } from '../protocol/frame-error.js';
import { limitHeaderLines } from '../protocol/broker-limits.js';
import { DELAYED_KINDS, type BrokerContext } from './context.js';
import { Purgatory, partitionKey } from './purgatory.js';
import { BrokerBudget } from './output-budget.js';
import type { Logger } from './logger.js';
import { RequestPipeline } from './request-pipeline.js';
import { WsTransport } from './ws-transport.js';
import { nativeCodec, type FrameCodec } from './native-codec.js';
import { dispatch } from './dispatch.js';
import { defaultRoutes, routeRequest, type RouteTable } from './http-routes.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import { collectPartitionStats, listenMetricsPort, setUpMetrics } from './metrics-setup.js';
import { GroupService } from './group-service.js';
import { ShareService, stopShareService } from './share-service.js';

export type OpenLogs = (config: BrokerConfig, log: Logger, opts?: { onFsync?: (seconds: number) => void; metrics?: BrokerMetrics }) => Promise<LogManager>;

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
  private metricsServer: Server | undefined;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<RequestPipeline>();
  private ctx: BrokerContext | undefined;
  private ready = false;
  private stopping: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  /** One codec for every connection: its frame limits come from the config. */
  private readonly codec: FrameCodec;

  constructor(readonly config: BrokerConfig, private readonly log: Logger, private readonly openLogs: OpenLogs) {
    this.routes = defaultRoutes(() => this.ready);
    this.metrics = setUpMetrics(config, this.routes);
    this.http = createServer((req, res) => routeRequest(this.routes, req, res));
    this.codec = nativeCodec(config.maxRequestMsgpackBytes);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false });
    const limits = limitHeaderLines(config);
    this.wss.on('headers', (headers: string[]) => { headers.push(...limits); });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Listens, recovers storage, then accepts requests. Resolves with the bound port. */
  async start(): Promise<number> {
    const { host, port } = this.config;
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => reject(listenFailed(err, 'port', host, port));
      this.http.once('error', failed);
      this.http.listen(port, host, () => {
        this.http.off('error', failed);
        resolve();
      });
    });
    const bound = (this.http.address() as AddressInfo).port;
    this.log.info('listening', { host, port: bound, url: `ws://${host}:${bound}`, version: VERSION });
    const started = Date.now();
    if (this.metrics.enabled && this.config.metricsPort >= 0) {
      const m = await listenMetricsPort(this.metrics, host, this.config.metricsPort)
        .catch((err: Error) => { throw listenFailed(err, 'metricsPort', host, this.config.metricsPort); });
      this.metricsServer = m.server;
      this.log.info('metrics listening', { host, port: m.port, url: `http://${host}:${m.port}/metrics` });
    }
    const metrics = this.metrics;
    const logs = await this.openLogs(this.config, this.log, metrics.enabled ? { onFsync: (s) => metrics.fsync(s), metrics } : {});
    logs.events.onListenerError = (event, err) => this.log.error('topic event listener failed', { event, error: err });
    collectPartitionStats(metrics, logs);
    const groups = await GroupService.open(this.config, logs, this.log, metrics);
    const output = new BrokerBudget(this.config.maxBufferedBytes, (delta) => metrics.addReservedBytes(delta));
    const delayed = new Purgatory(DELAYED_KINDS);
    metrics.collectDelayedOperations(() => delayed.sizes());
    // Long polls parked on a deleted topic's partitions answer at once (UNKNOWN_TOPIC_OR_PARTITION).
    logs.events.on('topicDeleted', (e) => { for (let p = 0; p < e.partitions; p++) delayed.finish(partitionKey(e.topic, p)); });
    this.ctx = { config: this.config, logs, readPool: new ReadBufferPool(), output, delayed, log: this.log, version: VERSION, metrics, groups, accepting: true };
    await ShareService.start(this.ctx);
    this.ready = true;
    const topics = logs.topics();
    this.log.info('ready', { port: bound, dataDir: logs.dataDir, topics: topics.length, recoveryMs: Date.now() - started });
    return bound;
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
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      // The upgraded socket is handed to the transport here, where it is public; ws keeps
      // its own reference in a private field that nothing else should read.
      const transport = new WsTransport(ws, socket, remote, { pingIntervalMs: this.config.pingIntervalMs, log: this.log });
      const conn = new RequestPipeline(transport, ctx, {
        codec: this.codec, ordered: false, onIdle: () => this.checkIdle(),
        dispatch: (r, scope) => dispatch(ctx, r, scope),
      });
      this.connections.add(conn);
      ctx.metrics.connectionOpened();
      conn.onClose(() => {
        ctx.metrics.connectionClosed();
        this.connections.delete(conn);
        this.checkIdle();
      });
      this.log.debug('connection opened', { remote });
    });
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
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    const ctx = this.ctx;
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
    for (const c of this.connections) c.close(CLOSE_GOING_AWAY, 'broker shutting down');
    this.http.closeAllConnections();
    if (ctx) await stopShareService(ctx);
    if (ctx) await ctx.groups.close();
    if (ctx) await ctx.logs.close();
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

/** A listen error naming the setting and its flag, so the user knows which one to change. */
function listenFailed(err: Error & { code?: string }, setting: string, host: string, port: number): Error {
  return Object.assign(new Error(`cannot listen on ${host}:${port} (setting '${setting}', flag --${flagName(setting)}): ${err.message}`, { cause: err }), { code: err.code });
}
