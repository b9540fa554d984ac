// Work-queue workload on BullMQ over Redis, in the style of ../shared/peers/rabbitmq-workqueue.mjs: add JOBS jobs of
// 100 bytes (addBulk, 1000 at a time), then WORKERS BullMQ Workers (one Redis connection each, in this one process),
// each running up to PREFETCH jobs at once (its `concurrency`), complete EACH job on its own (a trivial processor:
// BullMQ moves the job to completed, which is its ack, and takes the next in the same script call). Completed jobs
// are removed (removeOnComplete), as an acked message is gone from the other systems' queues. Prints one JSON line:
// acked (completed) jobs per second in the consume phase. Durability: Redis AOF, appendfsync everysec.
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { makePayloads, phase } from './common.mjs';
const port = Number(process.env.PORT ?? 6399);
const JOBS = Number(process.env.JOBS ?? 40000), WORKERS = Number(process.env.WORKERS ?? 4);
const PREFETCH = Number(process.env.PREFETCH ?? 64);
const pay = makePayloads(JOBS);
// BullMQ 6 in ESM takes constructed ioredis clients; one per Queue and per Worker (a Worker blocks on its own).
const clients = [];
const redis = () => { const c = new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: null }); clients.push(c); return c; };
const name = `jobs-${Date.now()}`;
const queue = new Queue(name, { connection: redis() });
// The payload as base64 text: BullMQ job data is JSON.
for (let i = 0; i < JOBS; i += 1000) {
  await queue.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, (_, j) => ({ name: 'job', data: pay(i + j).toString('base64'), opts: { removeOnComplete: true } })));
}
if ((await queue.getWaitingCount()) !== JOBS) throw new Error('not every job is waiting');
const end = phase();
let acked = 0;
let workers = [];
await new Promise((resolve, reject) => {
  workers = Array.from({ length: WORKERS }, () => {
    const w = new Worker(name, async () => {}, { connection: redis(), concurrency: PREFETCH });
    w.on('completed', () => { if (++acked === JOBS) resolve(); });
    w.on('error', reject);
    return w;
  });
});
const t = end();
console.log(JSON.stringify({ peer: 'bullmq', workload: 'work-queue', mode: 'redis', jobs: JOBS, workers: WORKERS,
  prefetch: PREFETCH, acked_jobs_s: Math.round(JOBS / t.s), seconds: +t.s.toFixed(3), client_cores: t.client_cores, server_cores: t.server_cores }));
await Promise.all(workers.map((w) => w.close()));
await queue.close();
for (const c of clients) c.disconnect(); // clients handed in are not closed by BullMQ
