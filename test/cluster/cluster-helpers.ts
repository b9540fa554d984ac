/** Shared pieces of the cluster tests: a member process (fixtures/member.ts) and a wait on its events. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Consumer } from '../../src/client/index.js';
import { SluiceError } from '../../src/errors.js';
import { SEGMENT_FILE } from '../../src/storage/segment.js';
import { LOG_START_OFFSET_FILE } from '../../src/storage/partition-log.js';

const MEMBER = fileURLToPath(new URL('./fixtures/member.ts', import.meta.url));

export interface Member {
  proc: ChildProcess;
  /** Resolves with the first event line that has `key`, past or future. */
  next(key: string, timeoutMs?: number): Promise<unknown>;
  /** Every event line so far, in the order the member printed them. */
  events(): readonly Record<string, unknown>[];
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
    events: () => events,
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

/** The values of the first `n` records of `topic` partition 0, read by `consumer` from where it is assigned now; fails after `timeoutMs`. */
export async function readValues(consumer: Consumer, topic: string, n: number, timeoutMs = 60_000): Promise<string[]> {
  await consumer.assign([{ topic, partition: 0 }]);
  const got: string[] = [];
  const read = (async () => {
    for await (const m of consumer) {
      got.push(m.value!.toString());
      if (got.length === n) break;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`read ${got.length} of ${n} records of ${topic} within ${timeoutMs} ms`)), timeoutMs); });
  try {
    await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
  return got;
}

/** A request retried while it fails with a retriable error (a coordinator loading or moved, a partition without a leader yet). */
export async function retriedWhileRetriable<T>(what: string, run: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  return until(async () => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) return undefined;
      throw err;
    }
  }, timeoutMs, what);
}

/** A replica of `topic`-`partition` in a broker's data dir: its log start (the saved one, else its first segment), its segment bases and its bytes. */
export function replicaOnDisk(dataDir: string, topic: string, partition: number): { start: number; bases: number[]; bytes: number } {
  const dir = join(dataDir, `${topic}-${partition}`);
  const files = readdirSync(dir);
  const bases = files.map((f) => SEGMENT_FILE.exec(f)).filter((m) => m !== null).map((m) => Number(m![1])).sort((a, b) => a - b);
  let start = bases[0] ?? 0;
  try {
    start = Math.max(start, Number(readFileSync(join(dir, LOG_START_OFFSET_FILE), 'utf8').trim()));
  } catch { /* never advanced */ }
  const bytes = files.filter((f) => f.endsWith('.log')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  return { start, bases, bytes };
}
