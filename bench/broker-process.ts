/**
 * Helpers for the benchmark drivers (compare.ts, scaling.ts): start a fresh broker process
 * on a temp data dir, run `sluice bench ...` as its own process, read CPU time from /proc.
 *
 * Every process runs from a source root (`root`, default this checkout) through tsx, so an
 * A/B run can point one variant at a `git worktree` of an older commit and interleave
 * both in one run on the same machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface BrokerProc {
  url: string;
  pid: number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

function cli(root: string): string[] {
  return ['--import', 'tsx', join(root, 'src/cli/main.ts')];
}

/** CPU seconds (user + system) of `pid` so far, from /proc (Linux); 0 when unavailable. */
export function procCpuSeconds(pid: number): number {
  return procCpuSecondsOf(`/proc/${pid}/stat`);
}

function procCpuSecondsOf(statFile: string): number {
  try {
    const s = readFileSync(statFile, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds (user + system) of the main thread of `pid` (the thread whose id is the
 * process's: the event loop and what it calls synchronously); the rest of the process's CPU
 * is its other threads: V8's compiler and collector helpers and libuv's pool (fs, fsync).
 * 0 when unavailable.
 */
export function procMainThreadCpuSeconds(pid: number): number {
  return procCpuSecondsOf(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * A fresh broker: temp data dir, port 0, `args` as extra flags (e.g. --log-flush-ms), `nodeArgs` for node (e.g. --cpu-prof);
 * `outFile` also gets everything the broker writes to stdout and stderr (e.g. V8's --trace-opt lines).
 */
export async function startBroker(root = ROOT, args: string[] = [], nodeArgs: string[] = [], outFile?: string): Promise<BrokerProc> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const proc: ChildProcess = spawn(process.execPath,
    [...nodeArgs, ...cli(root), 'broker', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--log-level', 'info', '--log-format', 'json', ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  if (outFile) {
    const file = createWriteStream(outFile);
    proc.stdout!.pipe(file);
    proc.stderr!.pipe(file);
  }
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`broker not ready:\n${out}`)), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /"event":"ready"[^\n]*"port":(\d+)/.exec(out) ?? /"port":(\d+)[^\n]*"event":"ready"/.exec(out);
      if (m) { clearTimeout(t); res(Number(m[1])); }
    });
    proc.stderr!.on('data', (d: Buffer) => { out += d; });
    proc.on('exit', (c) => { clearTimeout(t); rej(new Error(`broker exited with ${c}:\n${out}`)); });
  });
  const pid = proc.pid!;
  return {
    url: `ws://127.0.0.1:${port}`,
    pid,
    cpuSeconds: () => procCpuSeconds(pid),
    stop: async () => {
      // Idempotent: a benchmark may stop a broker on purpose and again in its cleanup.
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.removeAllListeners('exit');
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `sluice bench <args> --json` as its own process; resolves with the parsed result. */
export function benchCli(args: string[], root = ROOT, nodeArgs: string[] = []): Promise<Record<string, any>> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [...nodeArgs, ...cli(root), 'bench', ...args, '--json', '--no-progress'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return rej(new Error(`sluice bench ${args.join(' ')} exited ${code}: ${err}`));
      try { res(JSON.parse(line)); } catch { rej(new Error(`no JSON from sluice bench: ${out}${err}`)); }
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
