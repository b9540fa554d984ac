// `sluice bench produce|consume|e2e --json` against the real broker, tiny sizes: each prints
// exactly one JSON object on stdout with counts that match what was asked and sane rates.
// No assertion on speed (the machine is shared; timings are never a test gate).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { runCli, type CliResult } from './cli-process.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const bench = (args: string[]): Promise<CliResult> => runCli(broker.url, ['bench', ...args, '--json']);

function oneJson(stdout: string): Record<string, any> {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line of JSON, got:\n${stdout}`);
  return JSON.parse(lines[0]);
}

function assertSane(r: Record<string, any>, kind: string, messages: number, size: number): void {
  assert.equal(r.kind, kind);
  assert.equal(r.messages, messages);
  assert.equal(r.bytes, messages * size);
  assert.ok(r.seconds > 0 && Number.isFinite(r.seconds));
  assert.ok(r.msgsPerSec > 0);
  // seconds is printed to the ms, so allow half a ms of rounding in the rate check
  assert.ok(Math.abs(r.msgsPerSec * r.seconds - messages) <= messages * 0.01 + r.msgsPerSec * 0.0005, `${r.msgsPerSec} msgs/s x ${r.seconds} s != ${messages}`);
  // Payload MB/s is bytes / seconds, printed to 0.1 MB/s, from a time printed to the ms.
  const mbPerSec = r.bytes / 1e6 / r.seconds;
  assert.ok(Math.abs(r.mbPerSec - mbPerSec) <= 0.05 + mbPerSec * (0.0005 / r.seconds) + 1e-9, `${r.mbPerSec} MB/s reported, ${r.bytes} B in ${r.seconds} s is ${mbPerSec}`);
  assert.equal(typeof r.versions.sluice, 'string');
  assert.equal(typeof r.versions.node, 'string');
  assert.equal(typeof r.settings, 'object');
}

test('bench produce then bench consume replays exactly what was produced', async () => {
  const p = await bench(['produce', '--messages', '20000', '--size', '50', '--topic', 'bench-it', '--partitions', '2', '--acks', 'all']);
  assert.equal(p.code, 0, p.stderr);
  const pr = oneJson(p.stdout);
  assertSane(pr, 'produce', 20000, 50);
  assert.equal(pr.settings.acks, 'all');
  assert.equal(pr.settings.partitions, 2);

  const c = await bench(['consume', '--topic', 'bench-it', '--consumers', '2']);
  assert.equal(c.code, 0, c.stderr);
  assertSane(oneJson(c.stdout), 'consume', 20000, 50);
});

test('bench consume --group: two members of a new group replay the whole topic', async () => {
  const p = await bench(['produce', '--messages', '8000', '--size', '20', '--topic', 'bench-grp', '--partitions', '4']);
  assert.equal(p.code, 0, p.stderr);
  const c = await bench(['consume', '--topic', 'bench-grp', '--consumers', '2', '--group', 'bench-it-group']);
  assert.equal(c.code, 0, c.stderr);
  const r = oneJson(c.stdout);
  assertSane(r, 'consume', 8000, 20);
  assert.equal(r.settings.group, 'bench-it-group');
});

test('bench consume without --topic fills a new topic first', async () => {
  const c = await bench(['consume', '--messages', '5000', '--size', '10']);
  assert.equal(c.code, 0, c.stderr);
  assertSane(oneJson(c.stdout), 'consume', 5000, 10);
});

test('bench produce at a fixed --rate holds close to it', async () => {
  const p = await bench(['produce', '--messages', '3000', '--size', '20', '--rate', '5000', '--producers', '2']);
  assert.equal(p.code, 0, p.stderr);
  const r = oneJson(p.stdout);
  assertSane(r, 'produce', 3000, 20);
  // Paced: it cannot finish faster than the schedule allows (0.6 s for 3000 at 5000/s).
  assert.ok(r.seconds >= 0.55, `finished in ${r.seconds} s, faster than the offered rate`);
});

test('bench e2e reports ordered latency percentiles', async () => {
  const e = await bench(['e2e', '--messages', '2000', '--size', '100', '--rate', '4000', '--warmup-ms', '100']);
  assert.equal(e.code, 0, e.stderr);
  const r = oneJson(e.stdout);
  assertSane(r, 'e2e', 2000, 100);
  const l = r.latencyMs;
  for (const k of ['p50', 'p90', 'p99', 'p99.9', 'max']) assert.ok(typeof l[k] === 'number' && l[k] > 0, `${k}=${l[k]}`);
  assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l['p99.9'] && l['p99.9'] <= l.max * 1.001);
  assert.ok(r.latencySamples > 0 && r.latencySamples <= 2000);
});

test('bad option values fail with a message, not a stack', async () => {
  const e = await bench(['produce', '--acks', '2']);
  assert.notEqual(e.code, 0);
  assert.match(e.stderr, /--acks must be 0, 1 or all/);
  assert.equal(e.stdout, '');
});

test('a bench-* topic the command made is deleted when it ends, unless --keep; a --topic named one stays', async () => {
  const topics = async () => (await runCli(broker.url, ['topic', 'list'])).stdout.split('\n').map((l) => l.split(/\s+/)[0]);
  const made = (list: string[]) => list.filter((t) => /^bench-(produce|consume|e2e)-/.test(t));
  const before = made(await topics());
  for (const args of [['produce', '--messages', '500'], ['consume', '--messages', '500'], ['e2e', '--messages', '300', '--rate', '3000', '--warmup-ms', '0']]) {
    const r = await bench(args);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.deepEqual(made(await topics()), before, 'no bench-* topics left behind');
  const kept = await bench(['produce', '--messages', '500', '--keep']);
  assert.equal(kept.code, 0, kept.stderr);
  const name = /kept topic (bench-produce-\S+)/.exec(kept.stderr)?.[1];
  assert.ok(name, kept.stderr);
  assert.ok((await topics()).includes(name));
  assert.ok((await topics()).includes('bench-it'), 'the topic named with --topic by the first test stays');
});
