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
// Long enough that "at once" (killed) and "after the lock" (stopped) stay apart even when
// this process, the broker or a holder stalls for seconds (seen on CI).
const VISIBILITY = 8000;
const EXTEND_EVERY_MS = 300;
/** After all 30 are processed: anything delivered twice would show up within this. */
const SETTLE_MS = 2500;
const SETTINGS = { visibilityTimeoutMs: VISIBILITY, retryBackoffMs: 100, retryBackoffMaxMs: 100, sessionTimeoutMs: 60_000 };

let broker: BrokerHandle;
const procs: ChildProcess[] = [];
before(async () => { broker = await startBroker(); });
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await broker.stop();
});

interface Held { offset: number; deliveryCount: number; at: number; deadline: number }

/**
 * Starts a holder process and resolves once it printed `n` jobs. `deadlines` keeps, per
 * offset, the latest lock deadline the broker granted it (and it printed) so far.
 */
function holder(group: string, topic: string, n: number): Promise<{ proc: ChildProcess; jobs: Held[]; deadlines: Map<number, number> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', HOLDER, broker.url, group, topic, String(n), JSON.stringify(SETTINGS), String(EXTEND_EVERY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  const jobs: Held[] = [];
  const deadlines = new Map<number, number>();
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder got ${jobs.length}/${n} jobs`)), 15_000);
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(buf.slice(0, nl)) as Partial<Held> & { offset: number; deadline: number };
        buf = buf.slice(nl + 1);
        deadlines.set(e.offset, Math.max(deadlines.get(e.offset) ?? 0, e.deadline));
        if (e.deliveryCount === undefined) continue;
        jobs.push(e as Held);
        if (jobs.length === n) {
          clearTimeout(timer);
          resolve({ proc, jobs, deadlines });
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
  await Promise.race([all, new Promise((r) => { guard = setTimeout(r, 25_000); })]);
  clearTimeout(guard);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  await q.close();
  await run;

  assert.equal(processed.size, 30, `processed ${processed.size}/30`);
  for (const [offset, l] of processed) assert.equal(l.length, 1, `offset ${offset} processed ${l.length} times`);
  for (const j of stopped.jobs) {
    const [r] = processed.get(j.offset)!;
    assert.equal(r.deliveryCount, 2);
    // Not before the last lock deadline the broker granted the stopped worker (and it
    // printed): measured against the grant, a stall of the holder before the stop or of
    // this process cannot make this fail.
    const deadline = stopped.deadlines.get(j.offset)!;
    assert.ok(r.at >= deadline, `stopped worker's offset ${j.offset} redelivered ${deadline - r.at} ms before its lock expired`);
  }
  for (const j of killed.jobs) {
    const [r] = processed.get(j.offset)!;
    assert.equal(r.deliveryCount, 2);
    // At once, not after its lock (which was extended to ~VISIBILITY after the kill); the
    // margin covers starting the new consumer and a stall of seconds.
    assert.ok(r.at - killedAt < VISIBILITY - 2000, `killed worker's offset ${j.offset} took ${r.at - killedAt} ms to come back`);
  }
  for (const [offset, [r]] of processed) if (!held.has(offset)) assert.equal(r.deliveryCount, 1);
  const back = (jobs: Held[], from: (o: number) => number) => jobs.map((j) => processed.get(j.offset)![0].at - from(j.offset));
  console.log(`stopped worker's records back ${Math.min(...back(stopped.jobs, (o) => stopped.deadlines.get(o)!))}..${Math.max(...back(stopped.jobs, (o) => stopped.deadlines.get(o)!))} ms after their last printed deadline; ` +
    `killed worker's ${Math.min(...back(killed.jobs, () => killedAt))}..${Math.max(...back(killed.jobs, () => killedAt))} ms after the kill (lock ${VISIBILITY} ms)`);
});
