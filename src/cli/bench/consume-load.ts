/**
 * `sluice bench consume`: replays a topic from its log start to the log end it had when
 * the run began, with K Consumer objects in this one process; the topic's partitions are
 * dealt round-robin to them (explicit assignment: consumer groups are not used here).
 * Time runs from the first fetch request to the last record delivered; each record's
 * value is touched (its length summed) so that decoding cannot be skipped lazily.
 */
import { Admin, Consumer, type TopicPartition } from '../../client/index.js';
import { tpKey } from '../../protocol/topic-partition.js';
import { Progress } from './progress.js';
import { measured, type BenchResult } from './report.js';
import { clientSecurity } from '../client-security.js';

export interface ConsumeSettings {
  brokers: readonly string[];
  topic: string;
  consumers: number;
  maxBytes?: number;
  maxPartitionBytes?: number;
  /** Consumer group: the K consumers join it and the coordinator deals the partitions. */
  group?: string;
  progress: boolean;
}

export async function runConsume(s: ConsumeSettings): Promise<BenchResult> {
  const admin = new Admin({ ...clientSecurity(), brokers: s.brokers });
  let ends: { tp: TopicPartition; start: number; end: number }[];
  try {
    const first = await admin.listOffsets(s.topic, 'earliest');
    const last = await admin.listOffsets(s.topic, 'latest');
    ends = first.map((f, i) => ({ tp: { topic: f.topic, partition: f.partition }, start: f.offset, end: last[i].offset }));
  } finally {
    await admin.close();
  }
  const k = Math.max(1, Math.min(s.consumers, ends.length));
  const shares = Array.from({ length: k }, (_, i) => ends.filter((_e, j) => j % k === i));
  const total = ends.reduce((a, e) => a + (e.end - e.start), 0);
  if (s.group !== undefined) return runGroup(s, s.group, ends, total);
  const consumers = shares.map(() => new Consumer({
    ...clientSecurity(),
    brokers: s.brokers, autoOffsetReset: 'earliest', ...sizeLimits(s),
  }));
  for (let i = 0; i < k; i++) {
    await consumers[i].connect();
    await consumers[i].assign(shares[i].map((e) => e.tp));
    for (const e of shares[i]) consumers[i].seek(e.tp, e.start);
  }
  let done = 0;
  let bytes = 0;
  const progress = new Progress('consume', total, () => done, s.progress);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // The clock stops at the last message, not after close(): the peers' replays
  // (../shared/peers) stop theirs there too, and a close handshake is not replay work.
  let lastMessageAt = 0;
  try {
    await Promise.all(consumers.map((c, i) => {
      const want = new Map(shares[i].map((e) => [tpKey(e.tp.topic, e.tp.partition), e.end]));
      let open = [...want.values()].filter((end, j) => end > shares[i][j].start).length;
      if (open === 0) return c.close();
      return c.run({
        eachBatch: async ({ topic, partition, messages }) => {
          const end = want.get(tpKey(topic, partition))!;
          let n = 0;
          for (const m of messages) {
            if (m.offset >= end) break;
            bytes += m.value ? m.value.length : 0;
            n++;
          }
          done += n;
          if (n > 0 && messages[n - 1].offset === end - 1 && --open === 0) {
            lastMessageAt = performance.now();
            await c.close();
          }
        },
      });
    }));
  } finally {
    progress.stop();
  }
  const seconds = ((lastMessageAt || performance.now()) - t0) / 1000;
  const m = measured(done, bytes, seconds, cpu0);
  return {
    kind: 'consume',
    settings: { topic: s.topic, partitions: ends.length, consumers: `${k} (in one process)`, maxBytes: s.maxBytes ?? 'default', maxPartitionBytes: s.maxPartitionBytes ?? 'default', group: 'none (explicit assignment)' },
    ...m,
  };
}

/**
 * --group: K consumers join `group` (it should be new, so that every partition starts at
 * the log start by autoOffsetReset 'earliest'); time runs from the first join until the
 * records that were in the topic when the run began have all been delivered, across the
 * consumers, whichever got which partition. Join and rebalance time are part of it.
 */
async function runGroup(s: ConsumeSettings, group: string, ends: { tp: TopicPartition; start: number; end: number }[], total: number): Promise<BenchResult> {
  const end = new Map(ends.map((e) => [tpKey(e.tp.topic, e.tp.partition), e.end]));
  const consumers = Array.from({ length: Math.max(1, s.consumers) }, () => new Consumer({
    ...clientSecurity(),
    brokers: s.brokers, groupId: group, topics: [s.topic], autoOffsetReset: 'earliest', ...sizeLimits(s),
  }));
  let done = 0;
  let bytes = 0;
  let allIn!: () => void;
  const finished = new Promise<void>((r) => { allIn = r; });
  if (total === 0) allIn();
  const progress = new Progress('consume', total, () => done, s.progress);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const runs = consumers.map((c) => c.run({
    eachBatch: ({ topic, partition, messages }) => {
      const stop = end.get(tpKey(topic, partition)) ?? 0;
      for (const m of messages) {
        if (m.offset >= stop) break;
        bytes += m.value ? m.value.length : 0;
        if (++done === total) allIn();
      }
    },
  }));
  const failed = Promise.race(runs.map((r) => r.then(() => new Error('a group consumer stopped early'), (e: Error) => e)));
  const err = await Promise.race([finished.then(() => null), failed]);
  progress.stop();
  const seconds = (performance.now() - t0) / 1000;
  const m = measured(done, bytes, seconds, cpu0);
  await Promise.all(consumers.map((c) => c.close()));
  if (err) throw err;
  return {
    kind: 'consume',
    settings: { topic: s.topic, partitions: ends.length, consumers: `${consumers.length} (in one process)`, maxBytes: s.maxBytes ?? 'default', maxPartitionBytes: s.maxPartitionBytes ?? 'default', group },
    ...m,
  };
}

/** The consumer's fetch size limits, only those given (an absent one keeps the consumer's default). */
function sizeLimits(s: ConsumeSettings): { maxBytes?: number; maxPartitionBytes?: number } {
  return { ...(s.maxBytes !== undefined && { maxBytes: s.maxBytes }), ...(s.maxPartitionBytes !== undefined && { maxPartitionBytes: s.maxPartitionBytes }) };
}
