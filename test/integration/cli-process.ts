/** Runs the `sluice` CLI (as cliArgs() says) as a child process against `brokerUrl`. */
import { spawn } from 'node:child_process';
import { ROOT, cliArgs } from './cli-entry.js';

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(brokerUrl: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...cliArgs(), ...args], {
      cwd: ROOT,
      env: { ...process.env, SLUICE_BROKER: brokerUrl, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}
