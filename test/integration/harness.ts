/**
 * Starts the real broker as a child process for integration tests: port 0, a temp data
 * dir, waits for the JSON "ready" line (which carries the bound port), and cleans up.
 * Spawns `sluice broker` as cliArgs() says (compiled under `npm test`, else through tsx).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, cliArgs } from './cli-entry.js';
import '../exit-on-signal.js';

export interface BrokerHandle {
  url: string;
  port: number;
  httpUrl: string;
  dataDir: string;
  proc: ChildProcess;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL: no shutdown work at all, like a crash. */
  kill(): Promise<void>;
  /** Stops (SIGTERM) if running, then starts again on the same data dir (new port). */
  restart(): Promise<void>;
  /** Everything the process printed so far (stdout + stderr). */
  logs(): string;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Keep the data dir after the test (default: removed on process exit if we made it). */
  keepDataDir?: boolean;
  timeoutMs?: number;
  /** Runs the broker under `prlimit --nofile=N:N` (util-linux): its file descriptor limit, soft and hard. */
  fileLimit?: number;
}

const made = new Set<string>();
process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

export async function startBroker(opts: StartOptions = {}): Promise<BrokerHandle> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sluice-it-'));
  if (!opts.dataDir && !opts.keepDataDir) made.add(dataDir);
  let out = '';
  const handle = {
    dataDir, url: '', port: 0, httpUrl: '', proc: undefined as unknown as ChildProcess,
    logs: () => out,
  } as BrokerHandle;

  const launch = async () => {
    const argv = [...cliArgs(), 'broker', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, ...(opts.args ?? [])];
    // prlimit execs node in its own process, so the pid, the signals and the exit code are the broker's.
    const [cmd, args] = opts.fileLimit === undefined ? [process.execPath, argv] : ['prlimit', [`--nofile=${opts.fileLimit}:${opts.fileLimit}`, process.execPath, ...argv]];
    const proc = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...stripSluiceEnv(process.env), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    handle.proc = proc;
    const startedAt = Date.now();
    const port = await new Promise<number>((resolveP, reject) => {
      let buf = '';
      // Generous: a broker is ready in well under a second here, but CI machines have stalled
      // for many seconds; a slow start is reported below so the next failure has a clue.
      const limit = opts.timeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`broker not ready after ${limit} ms (pid ${proc.pid}):\n${out}`));
      }, limit);
      const onData = (chunk: Buffer) => {
        const s = chunk.toString();
        out += s;
        buf += s;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const ev = JSON.parse(line) as { event?: string; port?: number };
            if (ev.event === 'ready' && typeof ev.port === 'number') {
              clearTimeout(timer);
              const took = Date.now() - startedAt;
              if (took > 5000) process.stderr.write(`harness: the broker took ${took} ms to get ready\n`);
              resolveP(ev.port);
            }
          } catch { /* not a JSON line */ }
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`broker exited (${code ?? sig}) before ready:\n${out}`));
      });
    });
    handle.port = port;
    handle.url = `ws://127.0.0.1:${port}`;
    handle.httpUrl = `http://127.0.0.1:${port}`;
  };

  const exited = (proc: ChildProcess) => new Promise<number | null>((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) r(proc.exitCode);
    else proc.once('exit', (code) => r(code));
  });

  handle.stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = handle.proc;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    return exited(proc);
  };
  handle.kill = async () => {
    await handle.stop('SIGKILL');
  };
  handle.restart = async () => {
    await handle.stop('SIGTERM');
    await launch();
  };
  await launch();
  live.add(handle);
  return handle;
}

const live = new Set<BrokerHandle>();
process.on('exit', () => { for (const h of live) h.proc.kill('SIGKILL'); });

/** The test's own SLUICE_* variables must not leak into the broker under test. */
function stripSluiceEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('SLUICE_')) out[k] = v;
  return out;
}
