// `sluice cluster dev`: etcd and N real broker processes on one machine, every one of them
// gone after SIGINT, and a broker that cannot start stops the rest and is named.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli, type CliProcess } from '../integration/cli-process.js';
import { etcdTool } from './etcd-process.js';
import { alive } from '../process-alive.js';

const dirs: string[] = [];
const pids = new Set<number>();
after(() => {
  // Whatever a failed test left: the children run in their own process groups, so nothing else kills them.
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-dev-'));
  dirs.push(d);
  return d;
}

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolveP) => {
    // Connections are dropped at once: an accepted socket nobody reads would keep close() waiting.
    const srv = createServer((c) => c.destroy());
    srv.once('error', () => resolveP(undefined));
    srv.listen(port, '127.0.0.1', () => resolveP(srv));
  });
}

/** A base port whose next `n` ports are free now (random, so parallel test files rarely collide). */
async function freePortBlock(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const held: Server[] = [];
    for (let i = 0; i < n; i++) {
      const s = await listen(base + i);
      if (s === undefined) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === n) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

/** Waits for `re` in the command's stdout; fails with its output if it exits first. */
async function untilPrinted(cli: CliProcess, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = cli.stdout().match(re);
    if (m) return m;
    if (cli.proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no ${re} (exit ${cli.proc.exitCode}) in:\n${cli.stdout()}\n${cli.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pids `cluster dev` printed, by name ("etcd", "broker 0", ...). */
function printedPids(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of out.matchAll(/^(etcd|broker \d+)\s+\S+\s+pid (\d+)/gm)) m.set(x[1], Number(x[2]));
  for (const pid of m.values()) pids.add(pid);
  return m;
}

test('cluster dev --brokers 3 starts etcd and a cluster of three brokers, and SIGINT stops every one of them', { skip: etcdTool.skip }, async () => {
  const base = await freePortBlock(3);
  const dir = tempDir();
  const cli = spawnCli('', ['cluster', 'dev', '--brokers', '3', '--base-port', String(base), '--data-dir', dir, '--etcd-bin', etcdTool.path()]);
  try {
    // Generous: three brokers and etcd start together on a machine that may stall for seconds.
    await untilPrinted(cli, /^ready: 3 brokers/m, 120_000);
    const started = printedPids(cli.stdout());
    assert.deepEqual([...started.keys()], ['etcd', 'broker 0', 'broker 1', 'broker 2']);
    const etcdUrl = cli.stdout().match(/^etcd\s+(http:\S+)/m)?.[1];
    assert.ok(etcdUrl, cli.stdout());
    assert.equal((await fetch(`${etcdUrl}/health`)).status, 200, 'etcd serves');
    for (let i = 0; i < 3; i++) {
      assert.match(cli.stdout(), new RegExp(`^broker ${i}  ws://127\\.0\\.0\\.1:${base + i}  `, 'm'));
      const res = await fetch(`http://127.0.0.1:${base + i}/readyz`);
      assert.equal(res.status, 200, `broker ${i} is ready when "ready" is printed`);
    }
    for (const [name, pid] of started) assert.ok(alive(pid), `${name} (pid ${pid}) runs`);

    // The brokers are a cluster: registered in etcd, one of them the controller.
    const status = await runCli('', ['cluster', 'status', '--etcd', etcdUrl, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { brokers: { nodeId: number; url: string; alive: boolean }[]; controller?: number };
    assert.deepEqual(s.brokers, [0, 1, 2].map((i) => ({ nodeId: i, url: `ws://127.0.0.1:${base + i}`, alive: true })));
    assert.ok(s.controller !== undefined && [0, 1, 2].includes(s.controller), `a controller: ${status.stdout}`);

    // A topic with replication factor 3, created through one broker and described by another.
    const created = await runCli(`ws://127.0.0.1:${base + 1}`, ['topic', 'create', 'orders', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=2']);
    assert.equal(created.code, 0, created.stderr);
    const described = await runCli(`ws://127.0.0.1:${base + 2}`, ['topic', 'describe', 'orders']);
    assert.equal(described.code, 0, described.stderr);
    const [head, columns, ...rows] = described.stdout.trimEnd().split('\n');
    assert.match(head, /^Topic: orders {2}Partitions: 3 {2}ReplicationFactor: 3 .*minInsyncReplicas=2/);
    assert.match(columns, /^PARTITION +LEADER +EPOCH +REPLICAS +ISR +LOG-START/);
    const leaders = rows.map((row, p) => {
      const [partition, leader, epoch, replicas, isr] = row.trim().split(/\s+/);
      assert.equal(Number(partition), p);
      assert.deepEqual(replicas.split(',').map(Number).sort(), [0, 1, 2], `partition ${p} has a replica on every broker`);
      assert.equal(replicas.split(',')[0], leader, `partition ${p}: the first replica leads`);
      assert.deepEqual(isr.split(',').sort(), replicas.split(',').sort(), `partition ${p}: every replica in sync`);
      assert.equal(epoch, '0');
      return leader;
    });
    assert.equal(new Set(leaders).size, 3, `leaders spread over the brokers: ${described.stdout}`);

    cli.proc.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, 130, `Ctrl-C exits 130; stderr:\n${r.stderr}`);
    for (const [name, pid] of started) assert.ok(!alive(pid), `${name} (pid ${pid}) is gone after SIGINT`);
    assert.match(r.stderr, /stopped 3 brokers and etcd/);
  } finally {
    cli.proc.kill('SIGKILL');
  }
});

test('a broker that cannot start (its port taken) stops the others and makes cluster dev exit 1 naming it', { skip: etcdTool.skip }, async () => {
  const base = await freePortBlock(3);
  const taken = await listen(base + 1);
  assert.ok(taken, 'the test holds broker 1\'s port');
  try {
    const cli = spawnCli('', ['cluster', 'dev', '--brokers', '3', '--base-port', String(base), '--data-dir', tempDir(), '--etcd-bin', etcdTool.path()]);
    const r = await cli.done;
    const started = printedPids(r.stdout);
    assert.equal(r.code, 1, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stderr, /broker 1 exited with code 1 before it was ready; the last lines of .*broker-1\.log/);
    assert.match(r.stderr, /EADDRINUSE/, 'the broker\'s own words are in the tail');
    assert.doesNotMatch(r.stdout, /^ready/m);
    assert.equal(started.size, 4, r.stdout);
    for (const [name, pid] of started) assert.ok(!alive(pid), `${name} (pid ${pid}) was stopped`);
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

test('cluster dev names a missing etcd executable', async () => {
  const cli = spawnCli('', ['cluster', 'dev', '--data-dir', tempDir(), '--etcd-bin', '/nonexistent/etcd']);
  const r = await cli.done;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /etcd executable '\/nonexistent\/etcd' \(--etcd-bin \/ SLUICE_ETCD_BIN\) does not exist/);
});
