/** Plain-text output for the CLI: aligned tables and human sizes. */

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

/** Writes to stdout and waits when the pipe is full, so a slow reader throttles us. */
export function writeOut(s: string): Promise<void> | undefined {
  if (process.stdout.write(s)) return undefined;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}
