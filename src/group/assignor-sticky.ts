/**
 * Sticky assignor, the default. Goals in order:
 *  1. completeness: every partition of a subscribed topic goes to exactly one member that
 *     subscribes to its topic;
 *  2. balance: no member holds two or more partitions more than another member that could
 *     take one of them (with identical subscriptions: all counts within one);
 *  3. stickiness: a partition stays with its current holder unless goal 1 or 2 needs it to
 *     move, so adding one member to N moves only what the newcomer gets (<= ceil(P/(N+1)));
 *  4. determinism: the result depends only on the input, not on the order of `members`.
 *
 * Method: keep every current partition that is still valid, give each unassigned partition
 * (most constrained first) to the least loaded member that can take it, then move single
 * partitions from the most loaded to the least loaded eligible member while that reduces
 * the spread. Each move lowers the sum of squared counts by at least 2, so the loop ends.
 * The balance is local (no chains of moves through a third member); with heterogeneous
 * subscriptions that can leave a spread a global optimum would not, which Kafka's
 * heterogeneous assignor also accepts for the sake of speed.
 */
import { parseTpKey, tpKey, compareTpKeys, type Assignor } from './types.js';

export const stickyAssignor: Assignor = (members, partitionCounts) => {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const n = sorted.length;
  const subs = sorted.map((m) => new Set(m.topics.filter((t) => partitionCounts.has(t))));
  const held: Set<string>[] = sorted.map(() => new Set());
  const owner = new Map<string, number>();

  // 1. Keep what is still valid. Sorted keys keep insertion order (and so later choices)
  //    independent of how the caller built its sets. A partition claimed twice stays with
  //    the member that sorts first.
  for (let i = 0; i < n; i++) {
    for (const k of [...sorted[i].current].sort(compareTpKeys)) {
      const { topic, partition } = parseTpKey(k);
      if (!subs[i].has(topic) || partition >= partitionCounts.get(topic)! || owner.has(k)) continue;
      owner.set(k, i);
      held[i].add(k);
    }
  }

  // 2. Hand out the rest, partitions with the fewest eligible members first.
  const eligible = new Map<string, number[]>();
  for (const topic of [...partitionCounts.keys()].sort()) {
    const e: number[] = [];
    for (let i = 0; i < n; i++) if (subs[i].has(topic)) e.push(i);
    if (e.length > 0) eligible.set(topic, e);
  }
  const topics = [...eligible.keys()].sort((a, b) => eligible.get(a)!.length - eligible.get(b)!.length || (a < b ? -1 : 1));
  for (const topic of topics) {
    const e = eligible.get(topic)!;
    const count = partitionCounts.get(topic)!;
    for (let p = 0; p < count; p++) {
      const k = tpKey(topic, p);
      if (owner.has(k)) continue;
      let best = e[0];
      for (const i of e) if (held[i].size < held[best].size) best = i;
      owner.set(k, best);
      held[best].add(k);
    }
  }

  // 3. Even out: one partition at a time from the most to the least loaded eligible member.
  const order = sorted.map((_, i) => i);
  for (;;) {
    order.sort((a, b) => held[b].size - held[a].size || a - b);
    let moved = false;
    for (let x = 0; x < n && !moved; x++) {
      const from = order[x];
      for (let y = n - 1; y > x && !moved; y--) {
        const to = order[y];
        if (held[to].size + 2 > held[from].size) break;
        for (const k of held[from]) {
          if (!subs[to].has(parseTpKey(k).topic)) continue;
          held[from].delete(k);
          held[to].add(k);
          moved = true;
          break;
        }
      }
    }
    if (!moved) break;
  }

  const out = new Map<string, Set<string>>();
  sorted.forEach((m, i) => out.set(m.id, held[i]));
  return out;
};
