/**
 * A real Sluice cluster for tests: one etcd and N broker processes (`sluice broker` as
 * cliArgs() says: the compiled dist/ under `npm test`), each with its own temp data dir, a
 * fixed free port (kept across restarts, so its URL stays the same) and `--node-id` 1..N.
 *
 *   const env = brokerClusterForFile({ brokers: 3 });   // started in before(), stopped in after()
 *   test('...', { skip: etcdTool.skip }, async () => {
 *     const md = await env.cluster.metadata();          // from any live broker
 *     await env.cluster.broker(2).kill();               // SIGKILL; .pause()/.resume() SIGSTOP/SIGCONT
 *     await env.cluster.broker(2).restart();            // same id, dir and port; waits until ready
 *   });
 *
 * `startBrokerCluster()` resolves once every broker is ready (registered in etcd: a broker
 * logs "ready" only then) and every broker's Metadata lists all N brokers. A broker's etcd
 * URL can be replaced (`etcdUrlFor`), e.g. by a TCP proxy (test/tcp-proxy.ts) that a test cuts.
 * Every process is killed in `after` (and on process exit) even when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Connection, type ConnectionOptions } from '../../src/client/connection.js';
import { Api, type MetadataResponse } from '../../src/protocol/api.js';
import type { BodyOf, ResponseOf } from '../../src/protocol/api-table.js';
import type { ApiKey } from '../../src/protocol/api.js';
import { ROOT, cliArgs } from '../integration/cli-entry.js';
import { etcdTool, startEtcd, type EtcdHandle, type EtcdSecurity } from './etcd-process.js';
import { freePort } from '../free-port.js';
import { until } from './cluster-helpers.js';
import '../exit-on-signal.js';

export interface ClusterBroker {
  readonly nodeId: number;
  readonly port: number;
  /** ws://127.0.0.1:PORT, also its advertised URL unless `advertisedUrlFor` gave another. */
  readonly url: string;
  /** What clients and other brokers dial (from Metadata). */
  readonly advertisedUrl: string;
  readonly httpUrl: string;
  readonly dataDir: string;
  /** The current process (a new one after restart()). */
  readonly proc: ChildProcess;
  /** Whether the current process has not exited. */
  readonly running: boolean;
  /** Everything the process printed (stdout + stderr), all lives. */
  logs(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL: no shutdown work at all, like a crash; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: how a stalled machine looks to etcd and to the other brokers. */
  pause(): void;
  resume(): void;
  /** Starts it again (stopping it first if it runs): same node id, data dir and port; resolves once ready. */
  restart(): Promise<void>;
  /** A connection to this broker (one per broker, reused; closed by the cluster's stop()). */
  client(): Connection;
}

export interface BrokerCluster {
  readonly etcd: EtcdHandle;
  readonly brokers: readonly ClusterBroker[];
  /** The broker with node id `nodeId` (1..N). */
  broker(nodeId: number): ClusterBroker;
  /** Metadata (all topics, or `topics`) from `nodeId`, or from the first running broker. */
  metadata(nodeId?: number, topics?: string[]): Promise<MetadataResponse>;
  /** Any api at broker `nodeId`. */
  request<A extends ApiKey>(nodeId: number, api: A, body: BodyOf<A>): Promise<ResponseOf<A>>;
  /** Kills every broker and etcd, removes the data dirs. */
  stop(): Promise<void>;
}

export interface BrokerClusterOptions {
  /** How many brokers (node ids 1..N). Default 3. */
  brokers?: number;
  /** TLS and login of the harness's own connections (`client()`); with `tls` they dial wss://. */
  clientOptions?: ConnectionOptions;
  /** etcdSessionTtlMs of every broker. Default 6000 (the product default). */
  sessionTtlMs?: number;
  /** The etcd URL broker `nodeId` dials (default etcd's own); e.g. a proxy the test cuts. */
  etcdUrlFor?: (nodeId: number, etcd: EtcdHandle) => string | Promise<string>;
  /** The URL broker `nodeId` advertises (default its own ws://127.0.0.1:port); e.g. a proxy in front of `port`. */
  advertisedUrlFor?: (nodeId: number, port: number) => string | Promise<string>;
  /** Extra flags for every broker. */
  args?: string[];
  /** Extra flags for broker `nodeId` only, after `args` (a later flag wins: e.g. its own --etcd-session-ttl-ms). */
  argsFor?: (nodeId: number) => string[];
  /**
   * Start the brokers one after the other, each once the one before is ready, instead of all at
   * once: broker 1 then campaigns first and is the controller (unless it loses its lease).
   */
  startInOrder?: boolean;
  /** Bound on one broker's start (default 60 s: CI machines stall for seconds). */
  startTimeoutMs?: number;
  /** etcd with TLS and/or auth on (etcd-process.ts); the brokers need the matching `args` and `env`. */
  etcd?: EtcdSecurity;
  /** Extra environment of every broker (e.g. SLUICE_ETCD_PASSWORD: a secret stays off the command line). */
  env?: Record<string, string>;
}

const everyProcess = new Set<ChildProcess>();
process.on('exit', () => { for (const p of everyProcess) p.kill('SIGKILL'); });

export async function startBrokerCluster(opts: BrokerClusterOptions = {}): Promise<BrokerCluster> {
  const n = opts.brokers ?? 3;
  const etcd = await startEtcd(undefined, opts.etcd);
  const brokers: ManagedBroker[] = [];
  const cluster: BrokerCluster = {
    etcd,
    brokers,
    broker(nodeId) {
      const b = brokers[nodeId - 1];
      if (!b) throw new Error(`no broker ${nodeId} (the cluster has ${brokers.length})`);
      return b;
    },
    async metadata(nodeId, topics) {
      const b = nodeId === undefined ? brokers.find((x) => x.running) : cluster.broker(nodeId);
      if (!b) throw new Error('no broker is running');
      return b.client().request(Api.Metadata, topics ? { topics } : {}, 10_000);
    },
    request(nodeId, api, body) {
      return cluster.broker(nodeId).client().request(api, body, 15_000);
    },
    async stop() {
      await Promise.all(brokers.map((b) => b.dispose()));
      await etcd.stop();
    },
  };
  try {
    for (let id = 1; id <= n; id++) {
      const etcdUrl = opts.etcdUrlFor ? await opts.etcdUrlFor(id, etcd) : etcd.url;
      const port = await freePort();
      const advertised = opts.advertisedUrlFor ? await opts.advertisedUrlFor(id, port) : undefined;
      brokers.push(new ManagedBroker(id, port, etcdUrl, opts, advertised));
    }
    if (opts.startInOrder === true) for (const b of brokers) await b.start();
    else await Promise.all(brokers.map((b) => b.start()));
    await untilAllRegistered(cluster, n);
  } catch (err) {
    await cluster.stop().catch(() => {});
    throw err;
  }
  return cluster;
}

/** Resolves once every running broker's Metadata lists `n` brokers (each one's view has everybody). */
export async function untilAllRegistered(cluster: BrokerCluster, n = cluster.brokers.length, timeoutMs = 60_000): Promise<void> {
  await until(async () => {
    for (const b of cluster.brokers) {
      if (!b.running) continue;
      const md = await cluster.metadata(b.nodeId).catch(() => undefined);
      if (md?.brokers?.length !== n) return undefined;
    }
    return true;
  }, timeoutMs, `all ${n} brokers registered and seen by every broker`);
}

/**
 * One cluster for a test file: started in `before`, stopped in `after` (also when a test
 * failed). Read `env.cluster` inside tests. Nothing is started when etcd is not installed
 * (tests skip with `{ skip: etcdTool.skip }`).
 */
export function brokerClusterForFile(opts: BrokerClusterOptions = {}): { cluster: BrokerCluster } {
  const env = {} as { cluster: BrokerCluster };
  before(async () => {
    if (etcdTool.skip) return;
    env.cluster = await startBrokerCluster(opts);
  });
  after(async () => {
    await env.cluster?.stop();
  });
  return env;
}

class ManagedBroker implements ClusterBroker {
  readonly url: string;
  readonly httpUrl: string;
  readonly dataDir: string;
  proc!: ChildProcess;
  private out = '';
  private conn: Connection | undefined;

  readonly advertisedUrl: string;

  constructor(readonly nodeId: number, readonly port: number, private readonly etcdUrl: string, private readonly opts: BrokerClusterOptions, advertised?: string) {
    this.url = `ws://127.0.0.1:${port}`;
    this.advertisedUrl = advertised ?? this.url;
    this.httpUrl = `http://127.0.0.1:${port}`;
    this.dataDir = mkdtempSync(join(tmpdir(), `sluice-cluster-${nodeId}-`));
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  logs(): string {
    return this.out;
  }

  client(): Connection {
    const o = this.opts.clientOptions;
    this.conn ??= new Connection(o?.tls ? this.url.replace(/^ws:/, 'wss:') : this.url, { reconnectBackoffMaxMs: 500, requestTimeoutMs: 15_000, ...o });
    return this.conn;
  }

  /** Spawns the process and resolves once it logged "ready" (after registering in etcd). */
  async start(): Promise<void> {
    const args = [
      ...cliArgs(), 'broker', '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir,
      '--node-id', String(this.nodeId), '--etcd', this.etcdUrl, '--advertised-url', this.advertisedUrl,
      '--etcd-session-ttl-ms', String(this.opts.sessionTtlMs ?? 6000), ...(this.opts.args ?? []), ...(this.opts.argsFor?.(this.nodeId) ?? []),
    ];
    const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...withoutSluiceEnv(process.env), ...this.opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    everyProcess.add(proc);
    proc.once('exit', () => { everyProcess.delete(proc); });
    const limit = this.opts.startTimeoutMs ?? 60_000;
    await new Promise<void>((resolveP, reject) => {
      let buf = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`broker ${this.nodeId} not ready after ${limit} ms:\n${this.out}`));
      }, limit);
      proc.stdout!.on('data', (chunk: Buffer) => {
        const s = chunk.toString();
        this.out += s;
        buf += s;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('"event":"ready"')) { clearTimeout(timer); resolveP(); }
        }
      });
      proc.stderr!.on('data', (c: Buffer) => { this.out += c.toString(); });
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`broker ${this.nodeId} exited (${code ?? sig}) before ready:\n${this.out}`));
      });
    });
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.proc;
    return new Promise((resolveP) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolveP(proc.exitCode);
      proc.once('exit', (code) => resolveP(code));
      if (signal !== 'SIGCONT') proc.kill('SIGCONT'); // a paused process would not act on the signal
      proc.kill(signal);
    });
  }

  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  pause(): void {
    this.proc.kill('SIGSTOP');
  }

  resume(): void {
    this.proc.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    if (this.proc && this.running) await this.kill();
    await this.conn?.close().catch(() => {});
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The test's own SLUICE_* variables must not leak into the brokers under test. */
function withoutSluiceEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('SLUICE_')) out[k] = v;
  return out;
}
