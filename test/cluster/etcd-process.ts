/**
 * A real etcd (Debian's etcd-server, 3.4) for cluster tests: one member on free loopback
 * ports with a temp data dir, started per test file and killed afterwards. `pause()` and
 * `resume()` send SIGSTOP/SIGCONT, the way a stalled machine looks to its clients; `kill()`
 * and `restart()` crash it and bring it back with its data, as an etcd outage does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Etcd3 } from 'etcd3';
import { externalTool } from '../external-tool.js';
import { freePort } from '../free-port.js';
import '../exit-on-signal.js';

export const etcdTool = externalTool('etcd');

export interface EtcdHandle {
  /** The client URL, http://127.0.0.1:PORT. */
  readonly url: string;
  /** The current process (a new one after restart()). */
  readonly proc: ChildProcess;
  pause(): void;
  resume(): void;
  /** SIGKILL; the data dir stays, for restart(). */
  kill(): Promise<void>;
  /** Starts it again (killing it first if it runs) with the same data dir and ports; resolves once it serves. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

/** Starts etcd and resolves once it serves client requests (its own "ready" log line). */
export async function startEtcd(timeoutMs = 30_000): Promise<EtcdHandle> {
  const bin = etcdTool.path();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test', '--data-dir', dir,
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
    // No periodic snapshots or compaction surprises during a test.
    '--snapshot-count', '100000',
  ];
  let out = '';
  let proc: ChildProcess;
  const cleanup = () => { try { proc.kill('SIGKILL'); } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }); };
  process.once('exit', cleanup);
  // One life of the process; a restart (same data dir and ports: etcd ignores the initial-cluster flags then) is another.
  const launch = async (): Promise<void> => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    const from = out.length;
    await new Promise<void>((resolveP, reject) => {
      const timer = setTimeout(() => reject(new Error(`etcd did not become ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.slice(from).includes('ready to serve client requests')) { clearTimeout(timer); resolveP(); }
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`etcd exited (${code ?? sig}) before it was ready:\n${out}`)); });
    });
  };
  const killNow = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGCONT');
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    }
  };
  await launch();
  return {
    url,
    get proc() { return proc; },
    pause: () => { proc.kill('SIGSTOP'); },
    resume: () => { proc.kill('SIGCONT'); },
    logs: () => out,
    kill: killNow,
    async restart() {
      await killNow();
      await launch();
    },
    async stop() {
      await killNow();
      process.removeListener('exit', cleanup);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One etcd and one client for a test file: started before its tests, stopped after them.
 * Read `env.etcd` and `env.client` inside tests (they are set once `before` has run).
 */
export function etcdForFile(): { etcd: EtcdHandle; client: Etcd3 } {
  const env = {} as { etcd: EtcdHandle; client: Etcd3 };
  before(async () => {
    if (etcdTool.skip) return;
    env.etcd = await startEtcd();
    env.client = new Etcd3({ hosts: env.etcd.url });
  });
  after(async () => {
    env.client?.close();
    await env.etcd?.stop();
  });
  return env;
}
