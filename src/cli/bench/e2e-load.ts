/**
 * `sluice bench e2e`: a Producer offers messages on a fixed schedule (`rate` msgs/s) and a
 * Consumer in the same process reads them as they arrive; each message's latency is the
 * time from when it was *due* to be sent to when the consumer's handler sees it.
 *
 * Measuring from the scheduled time, not from the actual send() call, avoids coordinated
 * omission: if the producer or the event loop stalls, the messages that queue behind the
 * stall count the stall. Both clocks are this process's performance.now(), so there is no
 * cross-machine skew. The first 8 bytes of every value carry the scheduled time (float64).
 *
 * Latencies go into node's built-in HDR histogram (perf_hooks.createHistogram, 3
 * significant digits, in ns). Messages due in the first `warmupMs` are not recorded (JIT,
 * connection and page-cache warm-up).
 */
import { createHistogram } from 'node:perf_hooks';
import { randomFillSync } from 'node:crypto';
import { Consumer, Producer, type Acks } from '../../client/index.js';
import { Progress } from './progress.js';
import { measured, round, type BenchResult } from './report.js';
import { clientSecurity } from '../client-security.js';

export interface E2eSettings {
  brokers: readonly string[];
  topic: string;
  messages: number;
  size: number;
  partitions: number;
  rate: number;
  acks: Acks;
  batchBytes: number;
  lingerMs: number;
  inFlight: number;
  maxWaitMs: number;
  warmupMs: number;
  progress: boolean;
  /** Producer option `idempotent` (default: the Producer's, on). */
  idempotent?: boolean;
}

export async function runE2e(s: E2eSettings): Promise<BenchResult> {
  const size = Math.max(8, s.size);
  const producer = new Producer({
    ...clientSecurity(),
    brokers: s.brokers, acks: s.acks, batchBytes: s.batchBytes, lingerMs: s.lingerMs, maxInFlight: s.inFlight, ...(s.idempotent === false ? { idempotent: false } : {}),
  });
  const consumer = new Consumer({ ...clientSecurity(), brokers: s.brokers, autoOffsetReset: 'earliest', maxWaitMs: s.maxWaitMs });
  await producer.connect();
  await producer.partitionCount(s.topic);
  await consumer.connect();
  await consumer.assign(s.topic);
  const hist = createHistogram({ lowest: 1, highest: 3_600_000_000_000, figures: 3 });
  let received = 0;
  let bytes = 0;
  const progress = new Progress('e2e', s.messages, () => received, s.progress);
  let start = 0;
  const warmEnd = () => start + s.warmupMs;
  let allIn!: () => void;
  const consumed = new Promise<void>((r) => { allIn = r; });
  const reading = consumer.run({
    eachBatch: ({ messages }) => {
      const now = performance.now();
      for (const m of messages) {
        const v = m.value!;
        const due = v.readDoubleLE(0);
        if (due >= warmEnd()) hist.record(Math.max(1, Math.round((now - due) * 1e6)));
        bytes += v.length;
      }
      received += messages.length;
      if (received >= s.messages) allIn();
    },
  });
  // Give the consumer its first (empty) long poll before the clock starts.
  await new Promise((r) => setTimeout(r, 200));
  const cpu0 = process.cpuUsage();
  start = performance.now();
  let next = 0;
  const sends: Promise<void>[] = [];
  while (next < s.messages) {
    const due = Math.min(s.messages, Math.floor(((performance.now() - start) * s.rate) / 1000));
    if (due > next) {
      const n = due - next;
      const block = Buffer.allocUnsafe(n * size);
      randomFillSync(block);
      const msgs = new Array<{ value: Buffer }>(n);
      for (let i = 0; i < n; i++) {
        const v = block.subarray(i * size, (i + 1) * size);
        v.writeDoubleLE(start + ((next + i) * 1000) / s.rate, 0);
        msgs[i] = { value: v };
      }
      sends.push(producer.sendBatch(s.topic, msgs));
      next = due;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(sends);
  await producer.flush();
  const failed = await Promise.race([consumed.then(() => null), reading.then(() => new Error('consumer stopped early'), (e: Error) => e)]);
  progress.stop();
  const seconds = (performance.now() - start) / 1000;
  const m = measured(received, bytes, seconds, cpu0);
  await consumer.close();
  await producer.close();
  if (failed) throw failed;
  const ms = (p: number) => round(hist.percentile(p) / 1e6, 3);
  return {
    kind: 'e2e',
    settings: {
      topic: s.topic, size, partitions: s.partitions, rate: s.rate, acks: String(s.acks), batchBytes: s.batchBytes,
      lingerMs: s.lingerMs, inFlight: s.inFlight, maxWaitMs: s.maxWaitMs, warmupMs: s.warmupMs,
    },
    ...m,
    latencyMs: {
      p50: ms(50), p90: ms(90), p99: ms(99), 'p99.9': ms(99.9), max: round(hist.max / 1e6, 3), mean: round(hist.mean / 1e6, 3),
    },
    latencySamples: hist.count,
  };
}
