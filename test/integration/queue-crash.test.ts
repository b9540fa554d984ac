// Dead workers, against the real broker: a worker *process* that stops (SIGSTOP: its
// connection stays open) loses its records when their locks expire; one killed with
// SIGKILL loses them as soon as the broker sees its connection close. Either way each
// record is delivered to another worker exactly once more, with its delivery count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueConsumer } from '../../src/client/index.js';

const HOLDER = fileURLToPath(new URL('./fixtures/queue-holder.ts', import.meta.url));
const VISIBILITY = 2500;
const EXTEND_EVERY_MS = 300;
const SETTINGS = { visibilityTimeoutMs: VISIBILITY, retryBackoffMs: 100, retryBackoffMaxMs: 100, sessionTimeoutMs: 60_000 };

let broker: BrokerHandle;
const procs: ChildProcess[] = [];
before(async () => { broker = await startBroker(); });
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await broker.stop();
});

interface Held { offset: number; deliveryCount: number; at: number }

/** Starts a holder process and resolves once it printed `n` jobs. */
function holder(group: string, topic: string, n: number): Promise<{ proc: ChildProcess; jobs: Held[] }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', HOLDER, broker.url, group, topic, String(n), JSON.stringify(SETTINGS), String(EXTEND_EVERY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  const jobs: Held[] = [];
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder got ${jobs.length}/${n} jobs`)), 15_000);
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        jobs.push(JSON.parse(buf.slice(0, nl)) as Held);
        buf = buf.slice(nl + 1);
        if (jobs.length === n) {
          clearTimeout(timer);
          resolve({ proc, jobs });
        }
      }
    });
  });
}

test('records of a stopped worker come back after the lock expires, of a killed one at once; each is processed exactly once more', async (t) => {
  const topic = 'q-crash';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  const p = new Producer({ url: broker.url, acks: 'all' });
  await p.send(topic, Array.from({ length: 30 }, (_, i) => ({ value: `job-${i}` })));
  await p.close();

  // Holders keep their locks alive until stopped, so however far apart they start, each
  // holds five records of its own.
  const [stopped, killed] = await Promise.all([holder('g-crash', topic, 5), holder('g-crash', topic, 5)]);
  const stoppedAt = Date.now();
  stopped.proc.kill('SIGSTOP');
  const killedAt = Date.now();
  killed.proc.kill('SIGKILL');
  const held = new Set([...stopped.jobs, ...killed.jobs].map((j) => j.offset));
  assert.equal(held.size, 10);

  const processed = new Map<number, { deliveryCount: number; at: number }[]>();
  const q = new QueueConsumer({ url: broker.url, groupId: 'g-crash', topics: topic, concurrency: 5, maxWaitMs: 300, settings: SETTINGS });
  let finish!: () => void;
  const all = new Promise<void>((r) => { finish = r; });
  t.after(() => q.close());
  const run = q.run(async (job) => {
    const l = processed.get(job.offset) ?? [];
    l.push({ deliveryCount: job.deliveryCount, at: Date.now() });
    processed.set(job.offset, l);
    if (processed.size === 30) finish();
  });
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((r) => { guard = setTimeout(r, 15_000); })]);
  clearTimeout(guard);
  await new Promise((r) => setTimeout(r, VISIBILITY)); // anything delivered twice would show up by now
  await q.close();
  await run;

  assert.equal(processed.size, 30, `processed ${processed.size}/30`);
  for (const [offset, l] of processed) assert.equal(l.length, 1, `offset ${offset} processed ${l.length} times`);
  for (const j of stopped.jobs) {
    const [r] = processed.get(j.offset)!;
    assert.equal(r.deliveryCount, 2);
    // Its last extension ran at most EXTEND_EVERY_MS before the stop.
    const sinceStop = r.at - stoppedAt;
    assert.ok(sinceStop >= VISIBILITY - EXTEND_EVERY_MS - 100, `stopped worker's offset ${j.offset} redelivered ${sinceStop} ms after the stop, before its lock expired`);
  }
  for (const j of killed.jobs) {
    const [r] = processed.get(j.offset)!;
    assert.equal(r.deliveryCount, 2);
    assert.ok(r.at - killedAt < VISIBILITY, `killed worker's offset ${j.offset} took ${r.at - killedAt} ms to come back`);
  }
  for (const [offset, [r]] of processed) if (!held.has(offset)) assert.equal(r.deliveryCount, 1);
});
