/** Plain-text output for the CLI: aligned tables and human sizes, and the one writer of stdout. */
import { SluiceError } from '../errors.js';

/** Left-aligns text columns and right-aligns numeric ones; a header row first. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number'));
  const width = headers.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r.map((v, c) => (numeric[c] ? v.padStart(width[c]) : v.padEnd(width[c]))).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** stdout's reader went away (`sluice ... | head`): what is written from then on reaches no one. */
export class OutputClosedError extends SluiceError {
  constructor() {
    super('OUTPUT_CLOSED', 'stdout was closed by its reader');
  }
}

let outputClosed = false;

/**
 * Called once by the command's entry: a write to a pipe whose reader has gone fails with EPIPE,
 * emitted as an 'error' on stdout, which with no listener kills the process with a stack trace
 * (and, for `queue consume`, lets the broker count the jobs it held as failed attempts). With
 * this listener the next writeOut fails with OutputClosedError instead and the command ends
 * cleanly (src/cli/main.ts: quietly, exit 141 as a shell reports a SIGPIPE death).
 */
export function watchStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (!outputClosed && keepsRunning) {
      // The broker logs to stdout and does not stop serving because its log reader left (its
      // clients matter more than its log): say once, where someone may still look, that what
      // it logs from now on is dropped.
      process.stderr.write(`sluice: stdout was closed by its reader (${keepsRunning}); log lines are dropped from now on\n`);
    }
    outputClosed = true;
  });
}

let keepsRunning: string | undefined;

/** A command that keeps running when its stdout reader leaves (the broker) says so on stderr, once. */
export function keepRunningWithoutStdout(what: string): void {
  keepsRunning = what;
}

/**
 * Writes to stdout and waits when the pipe is full, so a slow reader throttles us. Fails with
 * OutputClosedError once the reader has gone; a write that met EPIPE itself returns false
 * (the stream is errored at once), so the caller learns it here before acting on the line
 * (`queue consume` acks a job only after this resolves). A line that went into the pipe's
 * buffer before the reader left is lost with the buffer: use --max-messages to take N.
 */
export function writeOut(s: string): Promise<void> | undefined {
  if (outputClosed || process.stdout.destroyed) return Promise.reject(new OutputClosedError());
  if (process.stdout.write(s)) return undefined;
  return new Promise((resolve, reject) => {
    const done = () => {
      process.stdout.off('drain', done);
      process.stdout.off('close', done);
      if (outputClosed || process.stdout.destroyed) reject(new OutputClosedError());
      else resolve();
    };
    process.stdout.on('drain', done);
    process.stdout.on('close', done);
  });
}
