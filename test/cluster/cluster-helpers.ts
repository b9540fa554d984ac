/** Shared pieces of the cluster tests: a member process (fixtures/member.ts) and a wait on its events. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MEMBER = fileURLToPath(new URL('./fixtures/member.ts', import.meta.url));

export interface Member {
  proc: ChildProcess;
  /** Resolves with the first event line that has `key`, past or future. */
  next(key: string, timeoutMs?: number): Promise<unknown>;
  kill(): void;
}

export function startMember(etcdUrl: string, nodeId: number, env: Record<string, string> = {}): Member {
  const proc = spawn(process.execPath, ['--import', 'tsx', MEMBER], {
    env: { ...process.env, ETCD: etcdUrl, NODE_ID: String(nodeId), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    events.push(JSON.parse(l) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  process.once('exit', () => { proc.kill('SIGKILL'); });
  return {
    proc,
    kill: () => { proc.kill('SIGKILL'); },
    next(key, timeoutMs = 30_000) {
      return new Promise((resolveP, reject) => {
        const timer = setTimeout(() => { reject(new Error(`member ${nodeId}: no "${key}" within ${timeoutMs} ms; stderr:\n${err}`)); }, timeoutMs);
        const check = () => {
          const e = events.find((x) => key in x);
          if (e !== undefined) { clearTimeout(timer); resolveP(e[key]); return; }
          if (proc.exitCode !== null) { clearTimeout(timer); reject(new Error(`member ${nodeId} exited ${proc.exitCode}; stderr:\n${err}`)); return; }
          waiters.push(check);
        };
        check();
        proc.once('exit', () => { for (const w of waiters.splice(0)) w(); });
      });
    },
  };
}

/** Polls `probe` until it returns a value other than undefined (an etcd read, not a sleep as ordering). */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
