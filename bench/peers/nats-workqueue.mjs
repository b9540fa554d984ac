// Work-queue workload on NATS JetStream (nats.js), in the style of ../shared/peers/rabbitmq-workqueue.mjs: publish
// JOBS 100-byte jobs (JetStream-acked, at most 4000 unacked) to a file-stored stream with WorkQueue retention (a
// message is deleted once acked), then WORKERS workers (one connection each, in this one process) pull from one
// durable pull consumer with explicit acks, each holding at most PREFETCH (max_ack_pending is WORKERS x PREFETCH),
// and ack EACH job on its own. Prints one JSON line: acked jobs per second in the consume phase.
// Acks are m.ack() (no reply, as an AMQP basic.ack); the phase ends when the stream is empty, i.e. once the
// server has applied every ack. Durability: JetStream's default file store (ack from the page cache, periodic fsync).
import { connect, AckPolicy, RetentionPolicy, StorageType } from 'nats';
import { makePayloads, phase } from './common.mjs';
const port = Number(process.env.PORT ?? 4299);
const JOBS = Number(process.env.JOBS ?? 40000), WORKERS = Number(process.env.WORKERS ?? 4);
const PREFETCH = Number(process.env.PREFETCH ?? 64), WA = 4000;
const pay = makePayloads(JOBS);
const servers = `127.0.0.1:${port}`;
// A stream and subject of its own per run: bench/peers/repeat-runs.mjs runs this script again in the same process
// against the same server, where the last run's (empty) stream still exists, as RabbitMQ's queues and BullMQ's do.
const tag = Date.now().toString(36);
const STREAM = `JOBS_${tag}`, SUBJECT = `jobs.${tag}`;
const nc = await connect({ servers });
const jsm = await nc.jetstreamManager();
await jsm.streams.add({ name: STREAM, subjects: [SUBJECT], storage: StorageType.File, retention: RetentionPolicy.Workqueue, num_replicas: 1 });
await jsm.consumers.add(STREAM, { durable_name: 'workers', ack_policy: AckPolicy.Explicit, max_ack_pending: WORKERS * PREFETCH });

// Publish with JetStream acks on one reply inbox, at most WA unacked (as nats-jetstream.mjs's asyncack mode).
const inbox = `_INBOX.jobs.${tag}`;
let sent = 0, stored = 0, wake = null, failed = null;
const allStored = new Promise((resolve) => {
  nc.subscribe(inbox, { callback: (err, m) => {
    if (err || m.string().includes('"error"')) failed ??= err ?? new Error(m.string());
    stored++;
    if (wake && sent - stored <= WA / 2) { const w = wake; wake = null; w(); }
    if (stored === JOBS) resolve();
  } });
});
await nc.flush();
while (sent < JOBS) {
  nc.publish(SUBJECT, pay(sent), { reply: inbox }); sent++;
  if (sent - stored >= WA) await new Promise((r) => { wake = r; });
  if (failed) throw failed;
}
await allStored;
if (failed) throw failed;

const conns = await Promise.all(Array.from({ length: WORKERS }, () => connect({ servers })));
const end = phase();
let acked = 0;
const pulls = [];
await new Promise((resolve, reject) => {
  for (const c of conns) {
    (async () => {
      const consumer = await c.jetstream().consumers.get(STREAM, 'workers');
      const msgs = await consumer.consume({ max_messages: PREFETCH });
      pulls.push(msgs);
      for await (const m of msgs) {
        m.ack();
        if (++acked === JOBS) { resolve(); break; }
      }
    })().catch(reject);
  }
});
// Every ack sent; the phase ends when the server has applied them all (WorkQueue retention deletes acked messages).
for (const c of conns) await c.flush();
for (;;) {
  const info = await jsm.streams.info(STREAM);
  if (info.state.messages === 0) break;
  await new Promise((r) => setTimeout(r, 2));
}
const t = end();
console.log(JSON.stringify({ peer: 'nats-jetstream', workload: 'work-queue', mode: 'workqueue-stream', jobs: JOBS, workers: WORKERS,
  prefetch: PREFETCH, acked_jobs_s: Math.round(JOBS / t.s), seconds: +t.s.toFixed(3), client_cores: t.client_cores, server_cores: t.server_cores }));
// Stop the other workers' pulls before closing, or their iterators keep the process alive.
for (const m of pulls) m.stop();
for (const c of [...conns, nc]) await c.close();
