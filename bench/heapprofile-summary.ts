/**
 * Allocated bytes per function from a V8 sampling heap profile (.heapprofile: `node
 * --heap-prof`, or bench/queue.ts --workers-heap-prof, which keeps the samples of objects
 * already collected, so the figures are what was allocated, not what survived):
 *   node --import tsx bench/heapprofile-summary.ts FILE.heapprofile [top=25] [--per N] [--under PATH]
 * Self = bytes allocated with the function as the top frame; `--under src/` adds a second
 * table keyed by the nearest frame whose file contains PATH (the code of ours that caused a
 * native or library allocation). `--per N` divides by N (e.g. the jobs of the run: bytes per job).
 */
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const per = Number(flag('--per') ?? 1);
const under = flag('--under');
const [file, topArg] = args;
const top = Number(topArg ?? 25);
if (!file) { process.stderr.write('usage: heapprofile-summary FILE.heapprofile [top] [--per N] [--under PATH]\n'); process.exit(2); }
const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: Node };

const name = (n: Node) => {
  const f = n.callFrame;
  const url = f.url.replace(/^file:\/\//, '').replace(/^.*?\/(src|bench|test|node_modules)\//, '$1/').replace(/^node_modules\//, '');
  return `${f.functionName || '(anonymous)'}  ${url}${url ? `:${f.lineNumber + 1}` : ''}`;
};
const self = new Map<string, number>();
const ours = new Map<string, number>();
let total = 0;
const walk = (n: Node, owner: string | undefined) => {
  const k = name(n);
  const own = under !== undefined && n.callFrame.url.includes(under) ? k : owner;
  if (n.selfSize > 0) {
    total += n.selfSize;
    self.set(k, (self.get(k) ?? 0) + n.selfSize);
    const o = own ?? '(none of ours on the stack)';
    ours.set(o, (ours.get(o) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, own);
};
walk(head, undefined);

const fmt = (b: number) => (per === 1 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / per).toFixed(0)} B`).padStart(10);
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`${title}\n`);
  for (const [k, b] of [...m].sort((a, b2) => b2[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * b) / total).toFixed(1).padStart(5)}% ${fmt(b)}  ${k}\n`);
  }
};
process.stdout.write(`${file}: ${fmt(total)} allocated${per === 1 ? '' : ` per 1 of ${per}`}\n`);
print('self (top frame):', self);
if (under !== undefined) print(`by the nearest frame under ${under}:`, ours);
