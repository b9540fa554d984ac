/**
 * Round-robin assignor: all partitions in (topic, partition) order are dealt one at a time
 * to members sorted by id, skipping members not subscribed to the partition's topic. With
 * identical subscriptions the counts differ by at most one. It ignores the current
 * assignment, so almost everything moves when membership changes.
 */
import { tpKey, type Assignor } from './types.js';

export const roundRobinAssignor: Assignor = (members, partitionCounts) => {
  const out = new Map<string, Set<string>>();
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const m of sorted) out.set(m.id, new Set());
  if (sorted.length === 0) return out;
  const subscribed = sorted.map((m) => new Set(m.topics));
  let next = 0;
  for (const topic of [...partitionCounts.keys()].sort()) {
    if (!subscribed.some((s) => s.has(topic))) continue;
    const count = partitionCounts.get(topic)!;
    for (let p = 0; p < count; p++) {
      while (!subscribed[next % sorted.length].has(topic)) next++;
      out.get(sorted[next % sorted.length].id)!.add(tpKey(topic, p));
      next++;
    }
  }
  return out;
};
