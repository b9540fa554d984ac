/**
 * Range assignor: per topic, the members subscribed to it (sorted by id) each take one
 * contiguous run of partitions; the first `P % n` members take one extra. Co-partitioned
 * topics therefore land together (partition i of every topic goes to the same member),
 * which is why Kafka keeps it, at the price of imbalance across many small topics.
 */
import { tpKey, type Assignor } from './types.js';

export const rangeAssignor: Assignor = (members, partitionCounts) => {
  const out = new Map<string, Set<string>>();
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const m of sorted) out.set(m.id, new Set());
  for (const topic of [...partitionCounts.keys()].sort()) {
    const count = partitionCounts.get(topic)!;
    const subs = sorted.filter((m) => m.topics.includes(topic));
    if (subs.length === 0) continue;
    const base = Math.floor(count / subs.length);
    const extra = count % subs.length;
    let p = 0;
    subs.forEach((m, i) => {
      const n = base + (i < extra ? 1 : 0);
      const set = out.get(m.id)!;
      for (let k = 0; k < n; k++) set.add(tpKey(topic, p++));
    });
  }
  return out;
};
