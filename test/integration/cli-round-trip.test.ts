// The data commands as a user runs them: `node --import tsx src/cli/main.ts ...` against
// the real broker; stdout for data, stderr for diagnostics, non-zero exit on failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type BrokerHandle } from './harness.js';
import { runCli, spawnCli, type CliResult } from './cli-process.js';
import { waitFor } from './group-helpers.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

// Each test starts the CLI four to eight times (37 starts in the file), seconds each on a
// loaded machine: under scripts/stall-run.mjs (3 s freezes, load 45) five tests took 160 s and
// the file was cut off at the 180 s that scripts/test-files.mjs gives tests without a timeout of
// their own. Each now asks for 120 s (the file's budget grows with them); a CLI that hangs still
// fails, here or at bounded()'s 60 s.
const sluice = (args: string[], input?: string, env: Record<string, string> = {}): Promise<CliResult> => runCli(broker.url, args, { ...(input !== undefined && { input }), env });

/** For a command that should end on its own: killed after 60 s (a command that follows the topic never ends). */
async function bounded(args: string[]): Promise<CliResult> {
  const p = spawnCli(broker.url, args);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 60_000);
  try {
    return await p.done;
  } finally {
    clearTimeout(timer);
  }
}

test('produce lines from stdin, then consume --from-beginning --max-messages N', { timeout: 120_000 }, async () => {
  assert.equal((await sluice(['topic', 'create', 'cli-rt', '--partitions', '1'])).code, 0);
  const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`);
  const prod = await sluice(['produce', 'cli-rt'], lines.join('\n') + '\n');
  assert.equal(prod.code, 0, prod.stderr);
  assert.match(prod.stderr, /produced 50 messages/);
  const cons = await sluice(['consume', 'cli-rt', '--from-beginning', '--max-messages', '50']);
  assert.equal(cons.code, 0, cons.stderr);
  assert.deepEqual(cons.stdout.trimEnd().split('\n'), lines);
  const part = await sluice(['consume', 'cli-rt', '--offset', '48', '--until-end', '--format', 'json']);
  assert.equal(part.code, 0, part.stderr);
  const js = part.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(js.map((m) => [m.offset, m.value]), [[48, 'line 48'], [49, 'line 49']]);
});

test('keys, key separator, headers and --file', { timeout: 120_000 }, async () => {
  await sluice(['topic', 'create', 'cli-keys', '--partitions', '4']);
  const f = join(mkdtempSync(join(tmpdir(), 'sluice-cli-')), 'in.txt');
  writeFileSync(f, 'u1:hello\nu2:world\nu1:again\n');
  const prod = await sluice(['produce', 'cli-keys', '--key-separator', ':', '--file', f, '--header', 'src=test', '--acks', 'all']);
  assert.equal(prod.code, 0, prod.stderr);
  const cons = await sluice(['consume', 'cli-keys', '--from-beginning', '--until-end', '--format', 'json']);
  const msgs = cons.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(msgs.length, 3);
  const u1 = msgs.filter((m) => m.key === 'u1');
  assert.deepEqual(u1.map((m) => m.value), ['hello', 'again']);
  assert.equal(new Set(u1.map((m) => m.partition)).size, 1, 'one key, one partition');
  assert.deepEqual(msgs[0].headers, { src: 'test' });
});

test('topic list and describe print tables', { timeout: 120_000 }, async () => {
  await sluice(['topic', 'create', 'cli-desc', '--partitions', '2', '--config', 'retention.ms=3600000']);
  await sluice(['produce', 'cli-desc', '--partition', '1'], 'a\nb\nc\n');
  const list = await sluice(['topic', 'list']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^TOPIC\s+PARTITIONS/);
  assert.match(list.stdout, /cli-desc\s+2/);
  const d = await sluice(['topic', 'describe', 'cli-desc']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /retentionMs=3600000/);
  const rows = d.stdout.split('\n').filter((l) => /^\s*\d/.test(l)).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(rows.map((r) => r.slice(0, 3)), [['0', '0', '0'], ['1', '0', '3']]);
  assert.equal((await sluice(['topic', 'delete', 'cli-desc'])).code, 0);
  assert.doesNotMatch((await sluice(['topic', 'list'])).stdout, /cli-desc/);
});

test('errors: unknown topic, unreachable broker, bad arguments -> message on stderr, exit != 0', { timeout: 120_000 }, async () => {
  const c = await sluice(['consume', 'no-such', '--from-beginning']);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /topic 'no-such' does not exist/);
  const p = await sluice(['produce', 'no-such'], 'x\n');
  assert.notEqual(p.code, 0);
  assert.match(p.stderr, /topic 'no-such' does not exist/);
  const d = await sluice(['topic', 'describe', 'no-such']);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /does not exist/);
  const down = await sluice(['topic', 'list', '--broker', 'ws://127.0.0.1:1']);
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /cannot connect to broker at ws:\/\/127\.0\.0\.1:1/);
  const bad = await sluice(['produce', 'cli-rt', '--acks', '2']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--acks must be 0, 1 or all/);
  const sep = await sluice(['produce', 'cli-rt', '--key-separator', ':'], 'no separator here\n');
  assert.notEqual(sep.code, 0);
  assert.match(sep.stderr, /line 1 has no key separator/);
});

test('consume --offset past the end is an error naming the log\'s range, with or without --until-end', { timeout: 120_000 }, async () => {
  await sluice(['topic', 'create', 'cli-off', '--partitions', '3']);
  assert.equal((await sluice(['produce', 'cli-off', '--partition', '2'], 'a\nb\nc\nd\n')).code, 0);
  for (const extra of [[], ['--until-end'], ['--max-messages', '1']]) {
    const r = await bounded(['consume', 'cli-off', '--partition', '2', '--offset', '99', ...extra]);
    assert.equal(r.code, 1, `${extra.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing replayed from the start');
    assert.match(r.stderr, /--offset 99 is past the end of the log: cli-off\/2 holds offsets 0\.\.3 \(next offset 4\)/);
  }
  // The next offset itself is not past the end: nothing to print up to the end.
  const atEnd = await sluice(['consume', 'cli-off', '--partition', '2', '--offset', '4', '--until-end']);
  assert.equal(atEnd.code, 0, atEnd.stderr);
  assert.equal(atEnd.stdout, '');
  const tail = await sluice(['consume', 'cli-off', '--partition', '2', '--offset', '3', '--until-end']);
  assert.equal(tail.stdout, 'd\n');
});

test('consume --print-partition --print-offset --print-key: Partition:P, Offset:N, key, value, tab-separated', { timeout: 120_000 }, async () => {
  await sluice(['topic', 'create', 'cli-print', '--partitions', '1']);
  assert.equal((await sluice(['produce', 'cli-print', '--key-separator', ':'], 'k1:v1\nk2:v2\n')).code, 0);
  assert.equal((await sluice(['produce', 'cli-print'], 'nokey\n')).code, 0);
  const r = await sluice(['consume', 'cli-print', '--from-beginning', '--until-end', '--print-partition', '--print-offset', '--print-key']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Partition:0\tOffset:0\tk1\tv1\nPartition:0\tOffset:1\tk2\tv2\nPartition:0\tOffset:2\tnull\tnokey\n');
  const keyOnly = await sluice(['consume', 'cli-print', '--from-beginning', '--max-messages', '1', '--print-key']);
  assert.equal(keyOnly.stdout, 'k1\tv1\n');
});

test('a bad option prints one line and a hint, not the usage; an fs error names its code once; consume --help says what --group excludes', { timeout: 120_000 }, async () => {
  const bad = await sluice(['consume', 'cli-rt', '--bogus']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, "error: unknown option '--bogus'\n(add --help for usage)\n");
  const file = await sluice(['produce', 'cli-rt', '--file', '/no/such/file']);
  assert.equal(file.code, 1);
  assert.match(file.stderr, /^sluice: ENOENT: no such file or directory/);
  assert.doesNotMatch(file.stderr, /ENOENT: ENOENT/);
  const help = await sluice(['consume', '--help']);
  assert.match(help.stdout, /--group takes --from-beginning .* but not --offset, --from-time, --partition, --until-end/);
  const both = await sluice(['consume', 'cli-rt', '--group', 'g', '--partition', '0']);
  assert.match(both.stderr, /--group cannot be combined with --offset, --from-time, --partition, --until-end/);
});

test('Ctrl-C: consume and consume --group stop cleanly and exit 130; queue consume drains and exits 0', { timeout: 120_000 }, async () => {
  await sluice(['topic', 'create', 'cli-sig', '--partitions', '2']);
  assert.equal((await sluice(['produce', 'cli-sig'], 'one\ntwo\nthree\n')).code, 0);
  for (const [args, code] of [
    [['consume', 'cli-sig', '--from-beginning'], 130],
    [['consume', 'cli-sig', '--from-beginning', '--group', 'cli-sig-g'], 130],
    [['queue', 'consume', 'cli-sig', '--group', 'cli-sig-q'], 0],
  ] as const) {
    const p = spawnCli(broker.url, [...args]);
    // Interrupted while following the topic, after it printed what was there.
    await waitFor(`${args.join(' ')} printed a message`, () => p.stdout().length > 0, 30_000);
    p.proc.kill('SIGINT');
    const r = await p.done;
    assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
  }
});
