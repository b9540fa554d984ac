import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { recordsIn, tempDir } from './helpers.js';

const FIXTURE = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'durable-appender.ts');

/** Runs the appender until it has acknowledged `acks` appends, then SIGKILLs it; returns the acknowledged ranges. */
function runAndKill(dir: string, acks: number): Promise<[number, number][]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: [number, number][] = [];
    let buf = '';
    let err = '';
    let killed = false;
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ack (\d+) (\d+)$/.exec(line);
        if (m) acked.push([Number(m[1]), Number(m[2])]);
      }
      if (!killed && acked.length >= acks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`appender exited ${code}: ${err}`));
      else resolve(acked);
    });
  });
}

test('every acknowledged durable append survives SIGKILL and reopen', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const round of [0, 1]) {
      const acked = await runAndKill(dir, 300 + round * 200);
      assert.ok(acked.length >= 300);
      const log = await DiskPartitionLog.open(dir, 't', 0, effectiveConfig({ segmentBytes: 64 * 1024 }));
      const end = log.logEndOffset;
      const want = new Set<number>();
      for (const [base, n] of acked) for (let o = base; o < base + n; o++) want.add(o);
      const maxAcked = Math.max(...want);
      assert.ok(end > maxAcked, `log end ${end} but offset ${maxAcked} was acknowledged`);
      // Every stored record is intact and in order; every acknowledged one is among them.
      let at = 0;
      let count = 0;
      while (at < end) {
        const recs = recordsIn((await log.read(at, 1 << 20)).bytes).filter((r) => r.offset >= at);
        for (const r of recs) {
          assert.deepEqual(r, { offset: at, value: `v${at}` });
          want.delete(at);
          at++;
          count++;
        }
      }
      assert.equal(count, end);
      assert.equal(want.size, 0);
      assert.ok(log.stats().segmentCount > 1);
      await log.close();
    }
  } finally {
    await cleanup();
  }
});
