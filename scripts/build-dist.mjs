#!/usr/bin/env node
// Compiles src/ into dist/ (tsc -p tsconfig.build.json) so that a build may run while another
// build, or a broker started from dist/, reads dist/ in the same checkout: `npm test`,
// `npm run chaos` and `npm run fuzz` each build before they start brokers, and two of them at
// once used to let one's tsc rewrite dist/ in place under the other's broker starts. tsc
// writes a file by truncating and then writing it, so a reader could import a half-written
// module.
//
// Why this way: tsc emits into a fresh staging directory beside dist/, and each output that
// differs from what dist/ holds is then renamed over it (a rename is atomic: a reader gets
// the old file or the new one, never part of one). Outputs that are the same are left alone,
// so a build of an unchanged tree writes nothing into dist/, and two builds at once agree on
// every byte. Simpler ways are not correct: `tsc --incremental` still truncates and rewrites
// the files of a changed source in place, and a lock between builds does not stop a build
// rewriting files a running broker start reads. The staging directory sits beside dist/, at
// the same depth, so the relative source paths in the source maps are the same and the
// rename stays on one filesystem.
//
// What it does not do: a file of dist/ whose source was removed stays (as with tsc), and a
// process that imports dist/ while a build of *changed* sources renames files in may get
// some modules old and some new (each one whole). A build that fails (a type error) leaves
// dist/ as it was: nothing is renamed in.
//
// Usage: node scripts/build-dist.mjs [--project tsconfig.build.json] [--out-dir dist]
// (paths relative to the working directory). Exits with tsc's status when tsc fails.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** Every file below `dir`, as paths relative to it. */
function filesBelow(dir, base = dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesBelow(p, base));
    else out.push(relative(base, p));
  }
  return out;
}

function sameBytes(a, b) {
  let old;
  try {
    old = readFileSync(b);
  } catch {
    return false; // not in dist/ yet
  }
  return readFileSync(a).equals(old);
}

/**
 * Builds `project` into `outDir` as described above. Returns tsc's exit status (0 when the
 * build succeeded), how many files tsc emitted and how many of them were renamed into `outDir`.
 */
export function buildDist({ project = 'tsconfig.build.json', outDir = 'dist' } = {}) {
  const out = resolve(outDir);
  mkdirSync(dirname(out), { recursive: true });
  const staging = mkdtempSync(join(dirname(out), `.${basename(out)}-build-`));
  try {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', project, '--outDir', staging], { stdio: 'inherit' });
    if (r.status !== 0) return { status: r.status ?? 1, replaced: 0, files: 0 };
    let replaced = 0;
    const files = filesBelow(staging);
    for (const file of files) {
      const from = join(staging, file);
      const to = join(out, file);
      if (sameBytes(from, to)) continue;
      mkdirSync(dirname(to), { recursive: true });
      renameSync(from, to);
      replaced++;
    }
    return { status: 0, replaced, files: files.length };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { project: { type: 'string' }, 'out-dir': { type: 'string' } } });
  const { status, replaced, files } = buildDist({ project: values.project, outDir: values['out-dir'] });
  if (status === 0) console.error(`build-dist: ${replaced} of ${files} files changed`);
  process.exit(status);
}
