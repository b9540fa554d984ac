/**
 * Self time per function from a V8 .cpuprofile (written by `node --cpu-prof`):
 *   node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [top=25] [--window FROM_US-TO_US] [--inclusive]
 * Self time = samples whose top frame is the function, times the mean sample interval;
 * functions are keyed by name + file + line so two `encode`s stay apart.
 * --window keeps the samples taken between two CLOCK_MONOTONIC times in microseconds (V8's
 * profile clock; bench/queue.ts prints the window of its throughput runs), so a broker's
 * start-up and produce phase do not blur the profile of the phase measured.
 * --inclusive adds, per function, the time of the samples it is anywhere on the stack of
 * (each function counted once per sample), to see which caller a native cost belongs to.
 */
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args.splice(i, name === '--inclusive' ? 1 : 2)[name === '--inclusive' ? 0 : 1];
};
const inclusive = flag('--inclusive') !== undefined;
const windowArg = flag('--window');
const [file, topArg] = args;
const top = Number(topArg ?? 25);
if (!file) { process.stderr.write('usage: cpuprofile-summary FILE.cpuprofile [top] [--window FROM_US-TO_US] [--inclusive]\n'); process.exit(2); }
const [from, to] = windowArg ? windowArg.split('-').map(Number) : [-Infinity, Infinity];
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const keyOf = (n: Node) => {
  const f = n.callFrame;
  const url = f.url.replace(/^file:\/\//, '').replace(/.*node_modules\//, '').replace(/.*\/(src|bench)\//, '$1/');
  return `${f.functionName || '(anonymous)'}  ${url}${url ? `:${f.lineNumber + 1}` : ''}`;
};
const selfUs = new Map<string, number>();
const inclUs = new Map<string, number>();
let t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i] ?? 0;
  if (t < from || t > to) continue;
  const dt = prof.timeDeltas[i] ?? 0;
  const n = byId.get(prof.samples[i])!;
  const key = keyOf(n);
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
  if (inclusive) {
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const k = keyOf(byId.get(id)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclUs.set(k, (inclUs.get(k) ?? 0) + dt);
    }
  }
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const idle = [...selfUs.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${((100 * idle) / total).toFixed(1)}% idle\n`);
for (const [k, v] of [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
}
if (inclusive) {
  process.stdout.write('inclusive (on the stack):\n');
  for (const [k, v] of [...inclUs.entries()].filter(([k]) => !k.startsWith('(root)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
  }
}
