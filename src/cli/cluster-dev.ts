/**
 * `sluice cluster dev`: a whole cluster on this machine for trying cluster mode out: one
 * etcd and N brokers as child processes, their data and logs under one directory, stopped
 * together on Ctrl-C / SIGTERM.
 *
 * Broker i (0..N-1) is `sluice broker --node-id i --etcd URL --port BASE+i --data-dir
 * DIR/broker-i`: node ids from 0 as Kafka's `broker.id`, and with the default base port 9400
 * broker 0 is where every other `sluice` command looks by default. etcd listens on the given
 * or a free port with its data in DIR/etcd (kept between runs, like the brokers' data).
 *
 * Children run in their own process groups (`detached`), so a Ctrl-C in the terminal reaches
 * only this process, which then stops them in order: brokers first (a broker's clean shutdown
 * needs etcd to hand its leaderships over), then etcd. Had they shared our group, each broker
 * would get the terminal's SIGINT and then our SIGTERM, and a second signal makes a broker
 * exit at once, skipping its clean shutdown. The price: a SIGKILL of this process leaves them
 * running (their pids are printed). Their output goes straight to DIR/<name>.log, not through
 * a pipe of ours, so they never block on, or die writing to, a pipe nobody reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants as osConstants } from 'node:os';
import { delimiter, join, relative, resolve } from 'node:path';

/** Where Debian's etcd-server puts the binary, tried after PATH. */
export const ETCD_DEFAULT_PATH = '/usr/bin/etcd';
const ETCD_PACKAGE = 'etcd-server';

export interface DevClusterOptions {
  brokers: number;
  basePort: number;
  dataDir: string;
  /** etcd's client port; a free one when absent. */
  etcdPort?: number | undefined;
  /** The etcd executable; PATH, then /usr/bin/etcd when absent. */
  etcdBin?: string | undefined;
  clusterName: string;
  /** How long etcd and then every broker may take to become ready (default 120 s: a loaded machine stalls). */
  startTimeoutMs?: number;
}

/** The output streams, apart so a test can run it in-process; data on `out`, diagnostics on `err`. */
export interface DevClusterIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const HOST = '127.0.0.1';
/** A broker's clean shutdown waits for in-flight requests and for its leaderships to move (shutdownTimeoutMs, 10 s, each): then SIGKILL. */
const BROKER_STOP_GRACE_MS = 30_000;
const ETCD_STOP_GRACE_MS = 10_000;
const TAIL_LINES = 20;
const POLL_MS = 100;

/** The etcd executable: `explicit` if given (it must be executable), else etcd on PATH, else /usr/bin/etcd. */
export function findEtcd(explicit: string | undefined, pathEnv: string = process.env.PATH ?? '', fallback = ETCD_DEFAULT_PATH): string {
  if (explicit !== undefined && explicit !== '') {
    if (isExecutable(explicit)) return explicit;
    throw new Error(`etcd executable '${explicit}' (--etcd-bin / SLUICE_ETCD_BIN) does not exist or is not executable`);
  }
  const candidates = [...pathEnv.split(delimiter).filter(Boolean).map((d) => join(d, 'etcd')), fallback];
  const found = candidates.find(isExecutable);
  if (found !== undefined) return found;
  throw new Error(`etcd not found on PATH or at ${fallback}: install it (apt-get install ${ETCD_PACKAGE}, etcd 3.4) or name it with --etcd-bin PATH`);
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A port nobody listens on right now, picked by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolveP, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolveP(port));
    });
  });
}

interface Exit { code: number | null; signal: NodeJS.Signals | null }

/** One child process whose output goes to a log file; knows how it ended and how to stop it. */
class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;

  constructor(readonly name: string, command: string, args: string[], readonly logFile: string) {
    const fd = openSync(logFile, 'w');
    try {
      this.proc = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the child has its own copy
    }
    this.exited = new Promise((resolveP) => {
      this.proc.once('exit', (code, signal) => { this.exit = { code, signal }; resolveP(this.exit); });
      // A spawn failure (ENOENT, EACCES) is an exit too, with the reason in the log's place.
      this.proc.once('error', (err) => { this.exit ??= { code: null, signal: null }; this.spawnError = err.message; resolveP(this.exit); });
    });
  }

  spawnError: string | undefined;

  get pid(): number | undefined { return this.proc.pid; }

  running(): boolean { return this.exit === undefined && this.proc.pid !== undefined; }

  /** "exited with code 1" / "was killed by SIGKILL" / "could not start: ...". */
  howItEnded(): string {
    if (this.spawnError !== undefined) return `could not start: ${this.spawnError}`;
    const e = this.exit;
    if (e === undefined) return 'is running';
    return e.signal !== null ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
  }

  /** The last lines of its output (stdout and stderr, as in its log file). */
  tail(): string {
    let text: string;
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
    return text.split('\n').filter((l) => l !== '').slice(-TAIL_LINES).join('\n');
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running()) return;
    try { this.proc.kill(signal); } catch { /* already gone */ }
  }

  /** `signal`, then SIGKILL if it is still running after `graceMs`; resolves once it has exited. */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (!this.running()) return;
    this.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => { timer = setTimeout(r, graceMs); });
    const how = await Promise.race([this.exited.then(() => 'exited' as const), late.then(() => 'late' as const)]);
    clearTimeout(timer);
    if (how === 'late') {
      this.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** A child that ended before it was ready; carries what to tell the user. */
class StartFailure extends Error {}

/** Polls `url` until it answers 200, each try bounded (a port held by something else may never answer). */
async function untilOk(url: string, cancelled: () => boolean): Promise<void> {
  while (!cancelled()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet, or not answering: try again
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Runs the dev cluster until SIGINT or SIGTERM, then stops it. Resolves with the process's
 * exit code: 128 + the signal's number after a stop by signal (130 for Ctrl-C, as `consume`),
 * 1 when etcd or a broker failed to start (the others are stopped first).
 */
export async function runDevCluster(o: DevClusterOptions, io: DevClusterIo): Promise<number> {
  const lastPort = o.basePort + o.brokers - 1;
  if (lastPort > 65535) throw new Error(`--base-port ${o.basePort} with --brokers ${o.brokers} needs ports up to ${lastPort}, above 65535`);
  const etcdBin = findEtcd(o.etcdBin);
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Paths as the user would type them: relative below the current directory, else absolute.
  const show = (p: string) => { const r = relative(process.cwd(), p); return r === '' ? '.' : r.startsWith('..') ? p : r; };
  const startTimeoutMs = o.startTimeoutMs ?? 120_000;

  let stopSignal: NodeJS.Signals | undefined;
  let onStop: () => void = () => {};
  const stopped = new Promise<void>((r) => { onStop = r; });
  const children: Child[] = [];
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopSignal === undefined) {
      stopSignal = sig;
      io.err(`${sig}: stopping the brokers, then etcd (again to kill them at once)`);
      onStop();
    } else {
      for (const c of children) c.kill('SIGKILL');
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Last resort for an unexpected exit of this process (not SIGKILL): no orphans.
  const onExit = () => { for (const c of children) c.kill('SIGKILL'); };
  process.on('exit', onExit);

  /** Resolves once `ready` did, rejects with StartFailure when `c` ends first; returns false when a stop signal came first. */
  const startOf = async (c: Child, ready: Promise<void>, what: string): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), startTimeoutMs); });
    const r = await Promise.race([ready.then(() => 'ready' as const), c.exited.then(() => 'exited' as const), stopped.then(() => 'stop' as const), timeout]);
    clearTimeout(timer);
    if (r === 'exited') throw new StartFailure(`${c.name} ${c.howItEnded()} before it was ready; the last lines of ${show(c.logFile)}:\n${c.tail()}`);
    if (r === 'timeout') throw new StartFailure(`${c.name} was not ${what} within ${startTimeoutMs} ms; the last lines of ${show(c.logFile)}:\n${c.tail()}`);
    return r === 'ready';
  };

  try {
    const etcdPort = o.etcdPort ?? await freePort();
    const peerPort = await freePort();
    const etcdUrl = `http://${HOST}:${etcdPort}`;
    const peerUrl = `http://${HOST}:${peerPort}`;
    mkdirSync(join(dataDir, 'etcd'), { recursive: true });
    // One member; --initial-* only matter on the first start (the data dir remembers the
    // member), and a later run may pick other free ports: a lone member needs no peers.
    const etcd = new Child('etcd', etcdBin, [
      '--name', 'dev', '--data-dir', join(dataDir, 'etcd'),
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `dev=${peerUrl}`, '--initial-cluster-state', 'new',
    ], join(dataDir, 'etcd.log'));
    children.push(etcd);
    io.out(`etcd      ${etcdUrl}  pid ${etcd.pid ?? '-'}  log ${show(etcd.logFile)}`);
    if (!await startOf(etcd, untilOk(`${etcdUrl}/health`, () => !etcd.running() || stopSignal !== undefined), 'serving')) return await shutDown();

    // The broker is this very command: the same node, the same entry script and loader flags
    // (`--import tsx` when run from the sources).
    const entry = [...process.execArgv, process.argv[1]];
    const brokers: Child[] = [];
    for (let i = 0; i < o.brokers; i++) {
      const port = o.basePort + i;
      const dir = join(dataDir, `broker-${i}`);
      const b = new Child(`broker ${i}`, process.execPath, [
        ...entry, 'broker', '--node-id', String(i), '--etcd', etcdUrl, '--cluster-name', o.clusterName,
        '--host', HOST, '--port', String(port), '--data-dir', dir, '--log-format', 'json',
      ], join(dataDir, `broker-${i}.log`));
      brokers.push(b);
      children.push(b);
      io.out(`broker ${i}  ws://${HOST}:${port}  pid ${b.pid ?? '-'}  log ${show(b.logFile)}`);
    }
    // /readyz is 200 once the broker has recovered its logs and (in cluster mode) holds an etcd session.
    const readies = brokers.map((b, i) => startOf(b, untilOk(`http://${HOST}:${o.basePort + i}/readyz`, () => !b.running() || stopSignal !== undefined), 'ready'));
    // The first broker to fail ends the start at once (Promise.all); the others' outcomes are then moot.
    for (const r of readies) r.catch(() => {});
    if ((await Promise.all(readies)).includes(false)) return await shutDown();

    io.out(`ready: ${o.brokers} broker${o.brokers === 1 ? '' : 's'} (ws://${HOST}:${o.basePort}..${lastPort}), etcd ${etcdUrl}, cluster '${o.clusterName}'; Ctrl-C stops them all`);
    for (const b of brokers) {
      // A broker that dies later is news, not a reason to stop the rest: killing one is how failover is tried.
      void b.exited.then(() => { if (stopSignal === undefined) io.err(`${b.name} ${b.howItEnded()}; the others keep running (its log: ${show(b.logFile)})`); });
    }
    void etcd.exited.then(() => { if (stopSignal === undefined) io.err(`etcd ${etcd.howItEnded()}: the brokers cannot change leaders or topics until it is back (its log: ${show(etcd.logFile)})`); });
    await stopped;
    return await shutDown();
  } catch (err) {
    if (!(err instanceof StartFailure)) {
      await shutDown();
      throw err;
    }
    io.err(`sluice cluster dev: ${err.message}`);
    await shutDown();
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  }

  /** Brokers first (their clean shutdown needs etcd), then etcd; each bounded, then SIGKILL. */
  async function shutDown(): Promise<number> {
    const brokers = children.filter((c) => c.name !== 'etcd');
    await Promise.all(brokers.map((c) => c.stop('SIGTERM', BROKER_STOP_GRACE_MS)));
    await Promise.all(children.filter((c) => c.name === 'etcd').map((c) => c.stop('SIGTERM', ETCD_STOP_GRACE_MS)));
    if (stopSignal === undefined) return 1;
    io.err(`stopped ${brokers.length} broker${brokers.length === 1 ? '' : 's'} and etcd`);
    return 128 + osConstants.signals[stopSignal];
  }
}
