/**
 * Throwaway peer servers for the work-queue comparison (bench/workqueue.ts): RabbitMQ, NATS
 * (JetStream) and Redis, each on free loopback ports with its data in a new temp dir, started
 * as ../shared/peers/run-peers.sh starts them (same flags, same durability settings), and
 * stopped by the id of the process group this file started. A server that is not installed
 * is not an error: `peerMissing()` names what is missing, and the bench skips that peer.
 *
 * Install (Debian, as root): apt-get install -y rabbitmq-server nats-server redis-server
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort } from '../src/cli/cluster-dev.js';

export type PeerServerKind = 'rabbitmq' | 'nats' | 'redis';

export interface PeerServer {
  port: number;
  /** Pids whose CPU time is the server's (SERVER_PID for the peer scripts' common.mjs). */
  pids: number[];
  stop(): Promise<void>;
}

const RABBIT = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/**
 * The shared peers folder (PEERS_DIR, else `../shared/peers` beside the checkout `root`). A git
 * worktree elsewhere (/work/wt/NAME) has none beside it: then the one beside the main checkout,
 * which holds the repository's git directory, so the comparison runs from any worktree.
 */
export function peersDir(root: string): string {
  if (process.env.PEERS_DIR) return resolve(process.env.PEERS_DIR);
  const beside = join(root, '../shared/peers');
  if (existsSync(beside)) return beside;
  const git = spawnSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: root, encoding: 'utf8' });
  const main = git.status === 0 ? join(dirname(git.stdout.trim()), '../shared/peers') : '';
  return main && existsSync(main) ? main : beside;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
}

/** Why `kind` cannot run on this machine, or undefined when it can. */
export function peerMissing(kind: PeerServerKind): string | undefined {
  switch (kind) {
    case 'rabbitmq': return existsSync(RABBIT) && onPath('epmd') ? undefined : `${RABBIT} or epmd not found (apt-get install rabbitmq-server)`;
    case 'nats': return onPath('nats-server') ? undefined : 'nats-server not on PATH (apt-get install nats-server)';
    case 'redis': return onPath('redis-server') ? undefined : 'redis-server not on PATH (apt-get install redis-server)';
  }
}

async function waitPort(port: number, proc: ChildProcess, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} before it listened`);
    const open = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); res(true); });
      s.once('error', () => res(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The process groups and data dirs of the servers this process started and has not stopped yet.
 * A group is detached, so it outlives this process unless told: if this process exits first
 * (an error, process.exit on a signal), the groups get SIGKILL and the dirs are removed.
 */
const leftGroups = new Set<number>();
const leftDirs = new Set<string>();
let exitHook = false;
function removeOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const g of leftGroups) { try { process.kill(-g, 'SIGKILL'); } catch { /* gone */ } }
    for (const d of leftDirs) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
  });
}

/** Starts `cmd` in its own process group (so its children stop with it); stop() sends SIGTERM to the group, SIGKILL after 30 s. */
function group(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { proc: ChildProcess; stop: () => Promise<void> } {
  removeOnExit();
  const proc = spawn(cmd, args, { env, detached: true, stdio: 'ignore' });
  const pgid = proc.pid;
  if (pgid !== undefined) {
    leftGroups.add(pgid);
    proc.once('exit', () => leftGroups.delete(pgid));
  }
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    try { process.kill(-proc.pid!, 'SIGTERM'); } catch { return; }
    const t = setTimeout(() => { try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, 30_000);
    await gone;
    clearTimeout(t);
  };
  return { proc, stop };
}

export async function startPeerServer(kind: PeerServerKind): Promise<PeerServer> {
  const dir = mkdtempSync(join(tmpdir(), `sluice-peer-${kind}-`));
  leftDirs.add(dir);
  const port = await freePort();
  const parts: { proc: ChildProcess; stop: () => Promise<void> }[] = [];
  const stop = async () => {
    for (const p of parts.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
    leftDirs.delete(dir);
  };
  try {
    let pids: () => number[];
    if (kind === 'redis') {
      const s = group('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec',
        '--dir', dir, '--logfile', join(dir, 'redis.log')]);
      parts.push(s);
      await waitPort(port, s.proc, 30_000, 'redis-server');
      pids = () => [s.proc.pid!];
    } else if (kind === 'nats') {
      const s = group('nats-server', ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)]);
      parts.push(s);
      await waitPort(port, s.proc, 30_000, 'nats-server');
      pids = () => [s.proc.pid!];
    } else {
      // RabbitMQ needs epmd; one may already run on this machine (then ours exits at once, harmless).
      const epmd = group('epmd', ['-address', '127.0.0.1']);
      parts.push(epmd);
      const dist = await freePort();
      writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.1 = 127.0.0.1:${port}\n`);
      writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
      const s = group(RABBIT, [], {
        ...process.env, RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'), RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'), RABBITMQ_LOG_BASE: join(dir, 'log'),
        RABBITMQ_NODENAME: `bench${port}@localhost`, RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'), RABBITMQ_DIST_PORT: String(dist),
        ERL_EPMD_ADDRESS: '127.0.0.1', RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}', RABBITMQ_PID_FILE: join(dir, 'rmq.pid'),
      });
      parts.push(s);
      await waitPort(port, s.proc, 240_000, 'rabbitmq-server');
      pids = () => {
        try { return [Number(readFileSync(join(dir, 'rmq.pid'), 'utf8').trim())]; } catch { return [s.proc.pid!]; }
      };
    }
    return { port, pids: pids(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
