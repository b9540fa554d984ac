/**
 * Output of `sluice bench`: one JSON object (`--json`) or a two-column table for people.
 * Every result names its settings and the versions that produced it, so a number pasted
 * into an issue can be reproduced.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

// src/cli/bench/ and dist/cli/bench/ are both three levels below the package root.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function versionOf(pkgJson: string): string {
  try {
    return (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function versions(): Record<string, string> {
  return {
    sluice: versionOf(join(ROOT, 'package.json')),
    node: process.versions.node,
    ws: versionOf(join(ROOT, 'node_modules/ws/package.json')),
    msgpackr: versionOf(join(ROOT, 'node_modules/msgpackr/package.json')),
  };
}

export function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown', platform: `${os.platform()} ${os.release()}` };
}

/** Cores of this process used since `since` (user + system CPU time / wall time). */
export function cpuCores(since: NodeJS.CpuUsage, seconds: number): number {
  const c = process.cpuUsage(since);
  return round((c.user + c.system) / 1e6 / Math.max(seconds, 1e-9), 2);
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The throughput fields of a result: counts, duration, rates and the client's CPU over `seconds`. */
export function measured(messages: number, bytes: number, seconds: number, cpuSince: NodeJS.CpuUsage) {
  return {
    messages, bytes, seconds: round(seconds, 3),
    msgsPerSec: Math.round(messages / seconds), mbPerSec: round(bytes / 1e6 / seconds, 1),
    clientCores: cpuCores(cpuSince, seconds),
  };
}

export interface BenchResult {
  kind: 'produce' | 'consume' | 'e2e';
  settings: Record<string, unknown>;
  messages: number;
  bytes: number;
  seconds: number;
  msgsPerSec: number;
  mbPerSec: number;
  clientCores: number;
  latencyMs?: Record<string, number>;
  [extra: string]: unknown;
}

export function emit(result: BenchResult, json: boolean): void {
  const full = { ...result, versions: versions(), machine: machine(), date: new Date().toISOString() };
  if (json) {
    process.stdout.write(`${JSON.stringify(full)}\n`);
    return;
  }
  const rows: [string, string][] = [];
  const num = (x: number) => x.toLocaleString('en-US');
  rows.push(['benchmark', result.kind]);
  for (const [k, v] of Object.entries(result.settings)) rows.push([k, String(v)]);
  rows.push(['messages', num(result.messages)]);
  rows.push(['seconds', result.seconds.toFixed(3)]);
  rows.push(['msgs/s', num(result.msgsPerSec)]);
  rows.push(['MB/s (payload)', result.mbPerSec.toFixed(1)]);
  rows.push(['client CPU (cores)', result.clientCores.toFixed(2)]);
  if (result.latencyMs) for (const [k, v] of Object.entries(result.latencyMs)) rows.push([`latency ${k} (ms)`, v.toFixed(3)]);
  const v = versions();
  rows.push(['versions', `sluice ${v.sluice}, node ${v.node}, ws ${v.ws}, msgpackr ${v.msgpackr}`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n') + '\n');
}
