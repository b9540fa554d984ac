#!/usr/bin/env node
// Runs the test suite (scripts/run-tests.mjs, same arguments) while freezing a random process of
// the run now and then: SIGSTOP, a pause, SIGCONT. CI machines stall for seconds at a time;
// this makes such stalls happen on purpose, at random moments, to any of the processes a run
// starts (test files, brokers, CLIs, worker processes, etcd, Prometheus), so that a test whose
// bound cannot survive a stall, or a real bug that a stall exposes (an answer lost between a
// wake-up and a timeout, a lock that expires while its holder sleeps), shows up here instead
// of on CI. Linux only (reads /proc).
//
//   node scripts/stall-run.mjs [--freeze-ms 1500] [--every-ms 4000-8000] [--seed N] [-- test filters...]
//
// Every freeze is logged on stderr (time, pid, command, duration) so that a failure can be
// matched to the freeze that caused it; the seed makes the choice of victims repeatable for
// the same process tree.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function usage(msg) {
  console.error(`stall-run: ${msg}\nusage: node scripts/stall-run.mjs [--freeze-ms MS] [--every-ms MIN-MAX] [--seed N] [-- test filters...]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let freezeMs = 1500;
let everyMin = 4000;
let everyMax = 8000;
let seed = Date.now() % 2 ** 31;
const filters = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--') { filters.push(...args.slice(i + 1)); break; }
  const value = () => { if (i + 1 >= args.length) usage(`${a} needs a value`); return args[++i]; };
  if (a === '--freeze-ms') freezeMs = Number(value());
  else if (a === '--every-ms') {
    const v = value();
    const m = /^(\d+)(?:-(\d+))?$/.exec(v);
    if (!m) usage(`--every-ms takes MS or MIN-MAX, not ${v}`);
    everyMin = Number(m[1]);
    everyMax = Number(m[2] ?? m[1]);
  } else if (a === '--seed') seed = Number(value());
  else filters.push(a);
}
if (!(freezeMs > 0) || !(everyMin > 0) || everyMax < everyMin || !Number.isInteger(seed)) usage('bad numbers');

// mulberry32: small, seedable, good enough to pick victims.
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
}

/** pid -> { ppid, cmd } for every process we can read. */
function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command sits in parentheses and may itself hold spaces or parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      table.set(Number(name), { ppid: Number(rest[1]), cmd, state: rest[0] });
    } catch {
      // the process ended while we looked
    }
  }
  return table;
}

function descendants(root) {
  const table = processTable();
  const children = new Map();
  for (const [pid, p] of table) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const out = [];
  const todo = [...(children.get(root) ?? [])];
  while (todo.length > 0) {
    const pid = todo.pop();
    out.push({ pid, cmd: table.get(pid)?.cmd ?? '?', stopped: /^[Tt]$/.test(table.get(pid)?.state ?? '') });
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

const child = spawn(process.execPath, ['scripts/run-tests.mjs', ...filters], { stdio: 'inherit' });
const frozen = new Set();
let freezes = 0;
let timer;
const t0 = Date.now();

function thawAll() {
  for (const pid of frozen) {
    try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  }
  frozen.clear();
}

function schedule() {
  timer = setTimeout(freezeOne, everyMin + Math.floor(random() * (everyMax - everyMin + 1)));
}

function freezeOne() {
  // The test runner's own orchestration (run-tests.mjs, node's --test parent, tsx's esbuild
  // service) and the static checks before the tests (tsc, eslint) are left alone: freezing
  // them only delays the run; the processes under the runner are the ones that race.
  const ignored = /run-tests\.mjs| --test( |$)|esbuild|typescript\/bin\/tsc|eslint/;
  // A process already stopped is left alone: a test SIGSTOPped it (a paused broker, etcd) and
  // means to resume it itself; our SIGCONT 3 s later would end its pause behind its back.
  // (A test that stops a process this run froze first is still resumed early: not detectable.)
  const victims = descendants(child.pid).filter((p) => !ignored.test(p.cmd) && !p.stopped);
  if (victims.length > 0) {
    const v = victims[Math.floor(random() * victims.length)];
    try {
      process.kill(v.pid, 'SIGSTOP');
      frozen.add(v.pid);
      freezes++;
      console.error(`stall-run: +${((Date.now() - t0) / 1000).toFixed(1)} s freeze pid ${v.pid} for ${freezeMs} ms: ${v.cmd.slice(0, 160)}`);
      setTimeout(() => {
        try { process.kill(v.pid, 'SIGCONT'); } catch { /* gone */ }
        frozen.delete(v.pid);
      }, freezeMs);
    } catch {
      // it ended between the listing and the signal
    }
  }
  schedule();
}

console.error(`stall-run: seed ${seed}, freeze ${freezeMs} ms every ${everyMin}-${everyMax} ms`);
schedule();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { thawAll(); child.kill(sig); });
child.on('exit', (code, signal) => {
  clearTimeout(timer);
  thawAll();
  console.error(`stall-run: ${freezes} freezes in ${((Date.now() - t0) / 1000).toFixed(0)} s (seed ${seed}); tests exited ${code ?? signal}`);
  process.exit(code ?? 1);
});
