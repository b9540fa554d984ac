// The data commands as a user runs them: `node --import tsx src/cli/main.ts ...` against
// the real broker; stdout for data, stderr for diagnostics, non-zero exit on failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type BrokerHandle } from './harness.js';
import { runCli, type CliResult } from './cli-process.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sluice = (args: string[], input?: string, env: Record<string, string> = {}): Promise<CliResult> => runCli(broker.url, args, { input, env });

test('produce lines from stdin, then consume --from-beginning --max-messages N', async () => {
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

test('keys, key separator, headers and --file', async () => {
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

test('topic list and describe print tables', async () => {
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

test('errors: unknown topic, unreachable broker, bad arguments -> message on stderr, exit != 0', async () => {
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
