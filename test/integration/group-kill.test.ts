// A consumer process SIGKILLed mid-stream: its partitions go to the surviving member
// within the session timeout, every produced message is processed at least once, and
// the only duplicates are the killed member's uncommitted tail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Producer } from '../../src/client/index.js';
import { brokerForFile, GROUP_BROKER_ARGS, groupConsumer, keys, waitFor } from './group-helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/group-consumer.ts', import.meta.url));
// Short enough to show the member's own session timeout is used (the broker default in
// GROUP_BROKER_ARGS is 10 s, see the recovery bound below), long enough that a stall of a
// few seconds before the kill (seen on CI) does not expire the survivor's session instead.
const SESSION_MS = 4000;
const COMMIT_MS = 300;
const PARTITIONS = 4;
const TOTAL = 4000;

const env = brokerForFile();

test('SIGKILL of a consumer process: reassigned within the session timeout, nothing lost, duplicates only uncommitted', async (t) => {
  const topic = 'kill';
  const group = 'g-kill';
  await env.admin.createTopic(topic, PARTITIONS);

  // The victim: a child process, first in the group, so it starts with every partition.
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, URL: env.broker.url, GROUP: group, TOPIC: topic, SESSION_MS: String(SESSION_MS), COMMIT_MS: String(COMMIT_MS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => { child.kill('SIGKILL'); });
  let childErr = '';
  child.stderr.on('data', (d) => (childErr += d));
  const childSeen: [number, number][] = [];
  const childSeenAt = new Map<string, number>();
  let childOwns: number[] = [];
  /** The child's assignment changes, with when they were read: for a failure's message. */
  const childAssignments: string[] = [];
  const t0 = Date.now();
  createInterface({ input: child.stdout }).on('line', (l) => {
    const e = JSON.parse(l) as { a?: number[]; m?: [number, number] };
    if (e.a) {
      if (e.a.join() !== childOwns.join()) childAssignments.push(`${Date.now() - t0} ms: [${e.a.join(',')}]`);
      childOwns = e.a;
    } else if (e.m) {
      childSeen.push(e.m);
      childSeenAt.set(`${e.m[0]}/${e.m[1]}`, Date.now() - t0);
    }
  });

  // Producer: a steady stream, explicit partitions, in the background.
  const producer = new Producer({ url: env.broker.url, acks: 1 });
  t.after(() => producer.close());
  let produced = 0;
  let killedAt = 0;
  // At least TOTAL, and on until a second after the kill, however long start-up took: the
  // survivor must find new messages on the killed member's partitions.
  const producing = (async () => {
    while (produced < TOTAL || killedAt === 0 || Date.now() < killedAt + 1000) {
      const batch = Array.from({ length: 20 }, (_, i) => ({ value: `v${produced + i}`, partition: (produced + i) % PARTITIONS }));
      await producer.send(topic, batch);
      produced += batch.length;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  producing.catch(() => {}); // awaited below; if the test fails first, closing the producer must not leave it unhandled

  // Bounds the child's start (tsx, connect, join): seconds on a loaded machine.
  await waitFor('child owns everything', () => childOwns.length === PARTITIONS, 60_000);
  const survivor = groupConsumer(env.broker.url, group, [topic], { sessionTimeoutMs: SESSION_MS, autoCommitIntervalMs: COMMIT_MS });
  const survivorSeen: { p: number; o: number; at: number }[] = [];
  t.after(() => survivor.close());
  await survivor.connect();
  const consuming = survivor.run({ eachMessage: (m) => { survivorSeen.push({ p: m.partition, o: m.offset, at: Date.now() }); } });
  await waitFor('2/2 split', () => childOwns.length === 2 && keys(survivor).length === 2, 10_000);
  await waitFor('child processed some of its share', () => childSeen.length >= 300, 10_000);

  const victimParts = [...childOwns];
  killedAt = Date.now();
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  await waitFor('a killed partition consumed again', () => survivorSeen.some((s) => s.at > killedAt && victimParts.includes(s.p)), 10_000, 5);
  const recoveryMs = survivorSeen.find((s) => s.at > killedAt && victimParts.includes(s.p))!.at - killedAt;

  await producing;
  await producer.close();
  const key = (p: number, o: number) => `${p}/${o}`;
  const all = () => new Set([...childSeen.map(([p, o]) => key(p, o)), ...survivorSeen.map((s) => key(s.p, s.o))]);
  await waitFor('every produced message processed', () => all().size >= produced, 15_000);
  await survivor.close();
  await consuming;

  // At least once: every offset of every partition.
  const seen = all();
  for (let p = 0; p < PARTITIONS; p++) for (let o = 0; o < produced / PARTITIONS; o++) assert.ok(seen.has(key(p, o)), `message ${p}/${o} never processed (${childErr})`);

  // Duplicates only from the killed member's uncommitted window: on each of its partitions,
  // the survivor starts at the last committed offset, and the repeats are exactly the
  // child's offsets from there on.
  const childKeys = new Set(childSeen.map(([p, o]) => key(p, o)));
  const dups = survivorSeen.filter((s) => childKeys.has(key(s.p, s.o)));
  for (const d of dups) {
    if (victimParts.includes(d.p)) continue;
    const survivorFirst = survivorSeen.find((s) => s.p === d.p)!;
    const childLast = Math.max(...childSeen.filter(([p]) => p === d.p).map(([, o]) => o));
    assert.fail(`duplicate ${d.p}/${d.o} on a partition the killed member did not own at the end: the child handled it at ${childSeenAt.get(key(d.p, d.o))} ms `
      + `and handled up to ${d.p}/${childLast} (at ${childSeenAt.get(key(d.p, childLast))} ms); the survivor started there at ${d.p}/${survivorFirst.o} at ${survivorFirst.at - t0} ms, `
      + `handled ${d.p}/${d.o} at ${d.at - t0} ms; the child's assignments: ${childAssignments.join('; ')}; killed at ${killedAt - t0} ms; the child's log: ${childErr}; survivor log: ${survivor.logs.join('; ')}; broker: ${env.broker.logs().split('\n').filter((l) => l.includes('"event":"rebalance"') || l.includes('group members')).join('\n')}`);
  }
  for (const p of victimParts) {
    const first = survivorSeen.find((s) => s.p === p && s.at > killedAt);
    if (!first) continue;
    const expected = childSeen.filter(([cp, o]) => cp === p && o >= first.o).length;
    assert.equal(dups.filter((d) => d.p === p).length, expected, `partition ${p}: repeats are not exactly the uncommitted tail (child's log: ${childErr})`);
  }
  console.log(`SIGKILL: partitions ${victimParts.join(',')} consumed again ${recoveryMs} ms after the kill (session timeout ${SESSION_MS} ms); ` +
    `${dups.length} of ${produced} messages redelivered (auto-commit every ${COMMIT_MS} ms)`);
  // Below the broker's 10 s default session: the member's own SESSION_MS was honoured.
  assert.ok(recoveryMs < 9000, `recovery took ${recoveryMs} ms`);
});
