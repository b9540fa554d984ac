// scripts/build-dist.mjs, the build of dist/ that `npm test`, `npm run chaos` and `npm run
// fuzz` run first: two runs at once in one checkout must not let a process that reads dist/
// (a broker start) see a half-written file, and a changed source must still reach dist/.
// Run on a small project of its own (the real build takes minutes on a loaded machine),
// with the real tsc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(import.meta.dirname, '../scripts/build-dist.mjs');
const FILES = 24;

/** A module whose output is ~256 KiB, so that writing it takes long enough for a reader to meet a partial one. */
function source(i: number, version: string): string {
  const lines = [`export const version${i} = '${version}';`];
  for (let j = 0; j < 64; j++) lines.push(`export const filler${i}_${j} = '${String(j % 10).repeat(4000)}';`);
  return lines.join('\n') + '\n';
}

async function project(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-build-dist-'));
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'tsconfig.build.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [], sourceMap: true, rootDir: 'src', outDir: 'dist' },
    include: ['src'],
  }));
  for (let i = 0; i < FILES; i++) await writeFile(join(dir, 'src', `m${i}.ts`), source(i, 'one'));
  return dir;
}

function build(cwd: string): { child: ChildProcess; exited: Promise<{ status: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [SCRIPT], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ status: number | null; stderr: string }>((r) => child.on('exit', (status) => r({ status, stderr })));
  return { child, exited };
}

test('two builds at once while a process reads dist/: every read sees a whole file; a later build of the same sources writes nothing', { timeout: 300_000 }, async (t) => {
  const dir = await project();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await build(dir).exited;
  assert.equal(first.status, 0, first.stderr);
  const outputs = Array.from({ length: FILES }, (_, i) => join(dir, 'dist', `m${i}.js`));
  const whole = outputs.map((f) => readFileSync(f));
  const inodes = outputs.map((f) => statSync(f).ino);

  // The reader: sizes in a tight loop (a file being rewritten in place is shorter for a
  // while: truncated, then written), and whole contents now and then, until both builds end.
  const builds = [build(dir), build(dir)];
  let running = builds.length;
  for (const b of builds) void b.exited.then(() => { running--; });
  const seen: string[] = [];
  let reads = 0;
  while (running > 0) {
    const until = Date.now() + 20;
    while (Date.now() < until) {
      for (let i = 0; i < FILES; i++) {
        reads++;
        let size = -1;
        try {
          size = statSync(outputs[i]).size;
        } catch { /* gone for a moment: as bad as a short file */ }
        if (size !== whole[i].length) seen.push(`m${i}.js: ${size} bytes, not ${whole[i].length}`);
      }
    }
    const i = reads % FILES;
    if (!(await readFile(outputs[i])).equals(whole[i])) seen.push(`m${i}.js: other bytes`);
    await new Promise<void>((r) => setImmediate(r));
  }
  for (const b of builds) assert.equal((await b.exited).status, 0, (await b.exited).stderr);
  assert.ok(reads > 1000, `the reader made ${reads} reads`);
  assert.deepEqual(seen.slice(0, 5), [], `${seen.length} reads of ${reads} met a file that was not whole`);
  for (const b of builds) assert.match((await b.exited).stderr, /build-dist: 0 of \d+ files changed/, 'the same sources again change nothing in dist/');
  assert.deepEqual(outputs.map((f) => statSync(f).ino), inodes, 'no file of dist/ was rewritten');
});

test('a changed source is rebuilt into dist/ (and only its outputs change); a build that fails leaves dist/ as it was', { timeout: 300_000 }, async (t) => {
  const dir = await project();
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal((await build(dir).exited).status, 0);
  const js = (i: number) => join(dir, 'dist', `m${i}.js`);
  const others = Array.from({ length: FILES }, (_, i) => i).filter((i) => i !== 3);
  const before = others.map((i) => statSync(js(i)).ino);

  await writeFile(join(dir, 'src', 'm3.ts'), source(3, 'two'));
  const rebuilt = await build(dir).exited;
  assert.equal(rebuilt.status, 0, rebuilt.stderr);
  assert.match(await readFile(js(3), 'utf8'), /version3 = 'two'/, 'the stale output was replaced');
  assert.match(rebuilt.stderr, new RegExp(`build-dist: 1 of ${2 * FILES} files changed`), 'm3.js alone (its source map is the same)');
  assert.deepEqual(others.map((i) => statSync(js(i)).ino), before, 'the outputs that did not change were left alone');

  await writeFile(join(dir, 'src', 'm3.ts'), `${source(3, 'three')}export const broken: number = 'not a number';\n`);
  const failed = await build(dir).exited;
  assert.notEqual(failed.status, 0, 'a type error fails the build');
  assert.match(await readFile(js(3), 'utf8'), /version3 = 'two'/, 'dist/ keeps the last good build');
});
