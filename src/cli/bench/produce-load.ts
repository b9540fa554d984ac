/**
 * `sluice bench produce`: K Producer objects in this one process (one connection each),
 * N messages in all, split evenly. Each producer hands its share to sendBatch() in chunks
 * of `chunk` messages and keeps at most `window` chunks unacknowledged; the Producer's own
 * batching (batchBytes, lingerMs) and maxInFlight decide what goes on the wire.
 *
 * With `rate` the load is offered on a schedule instead (closed loop off): every
 * millisecond the messages due since the start are sent, so a slow broker shows up as a
 * rate below the target rather than as a quietly slower schedule.
 */
import { Producer, type Acks } from '../../client/index.js';
import { PayloadPool } from './payload.js';
import { Progress } from './progress.js';
import { measured, type BenchResult } from './report.js';
import { clientSecurity } from '../client-security.js';

export interface ProduceSettings {
  brokers: readonly string[];
  topic: string;
  messages: number;
  size: number;
  partitions: number;
  producers: number;
  acks: Acks;
  batchBytes: number;
  lingerMs: number;
  inFlight: number;
  chunk: number;
  window: number;
  rate: number; // 0: as fast as possible
  progress: boolean;
  /** Producer option `idempotent` (default: the Producer's, on). */
  idempotent?: boolean;
}

export async function runProduce(s: ProduceSettings): Promise<BenchResult> {
  const pool = new PayloadPool(s.size, s.messages);
  const producers = Array.from({ length: s.producers }, () => new Producer({
    ...clientSecurity(),
    brokers: s.brokers, acks: s.acks, batchBytes: s.batchBytes, lingerMs: s.lingerMs, maxInFlight: s.inFlight,
    ...(s.idempotent === false ? { idempotent: false } : {}),
  }));
  await Promise.all(producers.map(async (p) => { await p.connect(); await p.partitionCount(s.topic); }));
  let done = 0;
  const progress = new Progress('produce', s.messages, () => done, s.progress);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await Promise.all(producers.map((p, k) => {
      const from = Math.floor((s.messages * k) / s.producers);
      const to = Math.floor((s.messages * (k + 1)) / s.producers);
      const onAck = (n: number) => { done += n; };
      return s.rate > 0
        ? paced(p, s.topic, pool, from, to, s.rate / s.producers, s.window, onAck)
        : closedLoop(p, s.topic, pool, from, to, s.chunk, s.window, onAck);
    }));
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const m = measured(s.messages, s.messages * s.size, seconds, cpu0);
  await Promise.all(producers.map((p) => p.close()));
  return {
    kind: 'produce',
    settings: {
      topic: s.topic, size: s.size, partitions: s.partitions, producers: `${s.producers} (in one process)`, acks: String(s.acks),
      batchBytes: s.batchBytes, lingerMs: s.lingerMs, inFlight: s.inFlight, chunk: s.chunk, window: s.window,
      rate: s.rate > 0 ? s.rate : 'unlimited',
    },
    ...m,
  };
}

function chunkOf(pool: PayloadPool, from: number, n: number): { value: Buffer }[] {
  const msgs = new Array<{ value: Buffer }>(n);
  for (let i = 0; i < n; i++) msgs[i] = { value: pool.value(from + i) };
  return msgs;
}

async function closedLoop(p: Producer, topic: string, pool: PayloadPool, from: number, to: number, chunk: number,
  window: number, onAck: (n: number) => void): Promise<void> {
  const pending: Promise<void>[] = [];
  for (let i = from; i < to; i += chunk) {
    const n = Math.min(chunk, to - i);
    pending.push(p.sendBatch(topic, chunkOf(pool, i, n)).then(() => onAck(n)));
    if (pending.length >= window) await pending.shift();
  }
  await Promise.all(pending);
  await p.flush();
}

async function paced(p: Producer, topic: string, pool: PayloadPool, from: number, to: number, rate: number,
  window: number, onAck: (n: number) => void): Promise<void> {
  const start = performance.now();
  let next = from;
  const pending = new Set<Promise<void>>();
  while (next < to) {
    const due = Math.min(to, from + Math.floor(((performance.now() - start) * rate) / 1000));
    if (due > next) {
      const n = due - next;
      const sent = p.sendBatch(topic, chunkOf(pool, next, n)).then(() => { onAck(n); pending.delete(sent); });
      pending.add(sent);
      next = due;
      // Bound memory if the broker falls behind: wait for the oldest, then catch up.
      if (pending.size >= window * 64) await Promise.race(pending);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  await p.flush();
}
