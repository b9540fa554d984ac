/** Runs `sluice <args>` to completion (the compiled CLI under npm test), with stdin and env, for the security tests. */
import { spawn } from 'node:child_process';
import { ROOT, cliArgs } from './cli-entry.js';

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(args: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_')) env[k] = v;
    const p = spawn(process.execPath, [...cliArgs(), ...args], { cwd: ROOT, env: { ...env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(o.stdin ?? '');
  });
}
