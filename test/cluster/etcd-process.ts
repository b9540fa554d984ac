/**
 * A real etcd (Debian's etcd-server, 3.4) for cluster tests: one member on free loopback
 * ports with a temp data dir, started per test file and killed afterwards. `pause()` and
 * `resume()` send SIGSTOP/SIGCONT, the way a stalled machine looks to its clients; `kill()`
 * and `restart()` crash it and bring it back with its data, as an etcd outage does.
 *
 * Secured (docs/security.md, "etcd"): `tls` serves the client port over TLS
 * (--cert-file/--key-file/--trusted-ca-file, and --client-cert-auth when asked); `auth` makes
 * the root user (what `etcdctl user add root` and `etcdctl auth enable` do, through the etcd3
 * client: this machine has no etcdctl), users with a readwrite role on a key prefix, and turns
 * auth on. `client()` then dials as root, with the test's CA.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Etcd3, Range, type IOptions } from 'etcd3';
import { readFileSync } from 'node:fs';
import { externalTool } from '../external-tool.js';
import { freePort } from '../free-port.js';
import '../exit-on-signal.js';

export const etcdTool = externalTool('etcd');

/** How a test's etcd is secured (both parts optional). */
export interface EtcdSecurity {
  /**
   * PEM files: etcd's certificate and key, and the CA that signed it (what clients trust).
   * `clientCertAuth`: clients must present a certificate signed by caFile (--trusted-ca-file
   * and --client-cert-auth; etcd 3.4 asks for one whenever --trusted-ca-file is set); the
   * handle's own client presents certFile/keyFile.
   */
  tls?: { certFile: string; keyFile: string; caFile: string; clientCertAuth?: boolean };
  /** etcd auth on: the root user's password, and users each with a readwrite role on one key prefix. */
  auth?: { rootPassword: string; users: { name: string; password: string; prefix: string }[] };
}

export interface EtcdHandle {
  /** The client URL, http://127.0.0.1:PORT (https:// with `tls`). */
  readonly url: string;
  /** A new client of this etcd: as root with the CA when secured (the caller closes it). */
  client(): Etcd3;
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

/** Starts etcd and resolves once it serves client requests (its own "ready" log line). `extraArgs`: more etcd flags (e.g. --max-txn-ops). */
export async function startEtcd(timeoutMs = 30_000, security: EtcdSecurity = {}, extraArgs: readonly string[] = []): Promise<EtcdHandle> {
  const bin = etcdTool.path();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const { tls, auth } = security;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test', '--data-dir', dir,
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
    // No periodic snapshots or compaction surprises during a test.
    '--snapshot-count', '100000',
    ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, ...(tls.clientCertAuth ? ['--trusted-ca-file', tls.caFile, '--client-cert-auth'] : [])] : []),
    ...extraArgs,
  ];
  const clientOptions = (): IOptions => ({
    hosts: url,
    ...(tls && { credentials: { rootCertificate: readFileSync(tls.caFile), ...(tls.clientCertAuth && { certChain: readFileSync(tls.certFile), privateKey: readFileSync(tls.keyFile) }) } }),
  });
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
  if (auth) await enableAuth(clientOptions(), auth).catch((err: unknown) => { throw new Error(`${String(err)}\n${out}`); });
  return {
    url,
    client: () => new Etcd3({ ...clientOptions(), ...(auth && { auth: { username: 'root', password: auth.rootPassword } }) }),
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

/** `etcdctl user add root; role add ...; auth enable`: the users, each with readwrite on its prefix, then auth on. */
async function enableAuth(options: IOptions, auth: NonNullable<EtcdSecurity['auth']>): Promise<void> {
  const c = new Etcd3(options);
  try {
    await c.role('root').create();
    await (await c.user('root').create(auth.rootPassword)).addRole('root');
    for (const u of auth.users) {
      const role = await c.role(`${u.name}-role`).create();
      await role.grant({ permission: 'Readwrite', range: Range.prefix(u.prefix) });
      await (await c.user(u.name).create(u.password)).addRole(role);
    }
    await c.auth.authEnable();
  } finally {
    c.close();
  }
}

/**
 * One etcd (with `extraArgs` among its flags) and one client for a test file: started before its tests, stopped after them.
 * Read `env.etcd` and `env.client` inside tests (they are set once `before` has run).
 */
export function etcdForFile(extraArgs: readonly string[] = []): { etcd: EtcdHandle; client: Etcd3 } {
  const env = {} as { etcd: EtcdHandle; client: Etcd3 };
  before(async () => {
    if (etcdTool.skip) return;
    env.etcd = await startEtcd(undefined, {}, extraArgs);
    env.client = new Etcd3({ hosts: env.etcd.url });
  });
  after(async () => {
    env.client?.close();
    await env.etcd?.stop();
  });
  return env;
}
