/** Runs the `sluice` CLI (as cliArgs() says) as a child process against `brokerUrl` (none for `sluice broker`). */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ROOT, cliArgs } from './cli-entry.js';

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** A running `sluice` command: what it printed so far, and its result once it exits. */
export interface CliProcess {
  proc: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
}

export function spawnCli(brokerUrl: string | undefined, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): CliProcess {
  const p = spawn(process.execPath, [...cliArgs(), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...(brokerUrl === undefined ? {} : { SLUICE_BROKER: brokerUrl }), ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => p.on('close', (code) => resolve({ code, stdout, stderr })));
  p.stdin.end(opts.input ?? '');
  return { proc: p, stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(brokerUrl: string | undefined, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return spawnCli(brokerUrl, args, opts).done;
}
