/**
 * A throwaway etcd for the cluster benchmark (bench/cluster.ts): one member on free ports
 * with a temp data dir, ready once /health answers, SIGKILLed and removed by stop(). The
 * executable is found as `sluice cluster dev` finds it (PATH, then /usr/bin/etcd).
 * Bench code does not import test/, so this is not test/cluster/etcd-process.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEtcd, freePort } from '../src/cli/cluster-dev.js';

export interface BenchEtcd { url: string; stop(): Promise<void> }

export async function startEtcd(timeoutMs = 60_000): Promise<BenchEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = spawn(findEtcd(process.env.SLUICE_ETCD_BIN), [
    '--name', 'bench', '--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `bench=${peer}`, '--initial-cluster-state', 'new',
  ], { stdio: 'ignore' });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).status === 200) return { url, stop };
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error(`etcd not ready within ${timeoutMs} ms`); }
    await new Promise((r) => setTimeout(r, 100));
  }
}
