/**
 * Queue mode (share groups) through the real broker process:
 *   1. throughput: acked jobs per second, 4 workers (QueueConsumer.run, trivial handler),
 *      small jobs, one partition; median of 3 runs (fresh group each run).
 *   2. redelivery delay: a worker takes a job and never settles it; how long after the
 *      acquisition the job reaches another worker, against the visibility timeout.
 *
 *   node --import tsx bench/queue.ts [--jobs 20000] [--size 100] [--workers 4] [--concurrency 64] [--visibility 1000]
 *
 * Starts its own broker (test/integration/harness.ts) on a temp data dir.
 */
import { parseArgs } from 'node:util';
import { startBroker } from '../test/integration/harness.js';
import { Admin, Producer, QueueConsumer, type Job } from '../src/client/index.js';
import { Connection } from '../src/client/connection.js';
import { Api, type ShareAcquireResponse } from '../src/protocol/api.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    size: { type: 'string', default: '100' },
    workers: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '64' },
    visibility: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
  },
});
const JOBS = Number(values.jobs);
const SIZE = Number(values.size);
const WORKERS = Number(values.workers);
const CONCURRENCY = Number(values.concurrency);
const VISIBILITY = Number(values.visibility);
const RUNS = Number(values.runs);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const broker = await startBroker();
  const url = broker.url;
  try {
    const admin = new Admin({ url });
    await admin.createTopic('bench-q', 1);
    const producer = new Producer({ url, acks: 1 });
    const payload = 'x'.repeat(SIZE);
    for (let i = 0; i < JOBS * RUNS; i += 1000) {
      await producer.send('bench-q', Array.from({ length: Math.min(1000, JOBS * RUNS - i) }, () => ({ value: payload })));
    }
    await producer.close();

    // 1. Throughput. Every run's group reads the topic from the start, so each run stops
    // after JOBS acks; the topic holds JOBS * RUNS so no run waits for data.
    const rates: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      let acked = 0;
      let finish!: () => void;
      const done = new Promise<void>((r) => { finish = r; });
      const workers = Array.from({ length: WORKERS }, (_, i) => new QueueConsumer({ url, groupId: `bench-${run}`, topics: 'bench-q', workerId: `w${i}`, concurrency: CONCURRENCY, maxWaitMs: 200 }));
      const t0 = performance.now();
      const runs = workers.map((w) => w.run(async (job: Job) => {
        await job.ack();
        if (++acked === JOBS) finish();
      }));
      await done;
      const secs = (performance.now() - t0) / 1000;
      rates.push(JOBS / secs);
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(runs);
      console.log(`run ${run + 1}: ${JOBS} jobs acked in ${secs.toFixed(2)} s = ${Math.round(JOBS / secs)} jobs/s`);
    }
    console.log(`throughput (${WORKERS} workers, concurrency ${CONCURRENCY}, ${SIZE}-byte jobs, 1 partition): median ${Math.round(median(rates))} acked jobs/s`);

    // 2. Redelivery delay: a raw holder (no client lock bookkeeping) acquires the one job
    // of a fresh group and sits on it; a QueueConsumer of the same group waits for it.
    await admin.createTopic('bench-redeliver', 1);
    await admin.close();
    const p2 = new Producer({ url, acks: 'all' });
    await p2.send('bench-redeliver', [{ value: 'r' }]);
    await p2.close();
    const delays: number[] = [];
    const settings = { visibilityTimeoutMs: VISIBILITY, retryBackoffMs: 0, retryBackoffMaxMs: 0 };
    const holder = new Connection(url);
    for (let i = 0; i < 5; i++) {
      const groupId = `redeliver-${i}`;
      const res = await holder.request(Api.ShareAcquire, { groupId, workerId: 'holder', topics: ['bench-redeliver'], maxRecords: 1, maxWaitMs: 1000, settings });
      const acquiredAt = Date.now();
      if (res.partitions[0]?.acquired.length !== 1) throw new Error('holder acquired nothing');
      const other = new QueueConsumer({ url, groupId, topics: 'bench-redeliver', concurrency: 1, maxWaitMs: 2 * VISIBILITY });
      const again = (await other[Symbol.asyncIterator]().next()).value as Job;
      delays.push(Date.now() - acquiredAt);
      if (again.deliveryCount !== 2) throw new Error(`expected a redelivery, got delivery ${again.deliveryCount}`);
      await again.ack();
      await other.close();
    }
    await holder.close();
    const extra = delays.map((d) => d - VISIBILITY);
    console.log(`redelivery after lock expiry (visibility ${VISIBILITY} ms): delays ${delays.join(', ')} ms; ` +
      `median ${median(delays)} ms = timeout + ${median(extra)} ms (max + ${Math.max(...extra)} ms)`);
  } finally {
    await broker.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
