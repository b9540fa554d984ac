/**
 * `--wait` of `sluice topic reassign`, `cluster drain` and `cluster rebalance`: polls until
 * every move is done, i.e. no reassignment of those partitions runs any more and Metadata
 * shows each partition with its target replicas. Polling (twice a second) is what a CLI can
 * afford; applications that care about progress read `listPartitionReassignments` themselves.
 */
import type { Admin, PartitionMove } from '../client/admin.js';

export async function waitForMoves(admin: Admin, moves: readonly PartitionMove[], timeoutMs: number, pollMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const topics = [...new Set(moves.map((m) => m.topic))];
  for (;;) {
    const running = await admin.listPartitionReassignments(topics);
    const described = running.length > 0 ? [] : await admin.describeTopics(topics);
    const left = moves.filter((m) => {
      if (running.some((r) => r.topic === m.topic && r.partition === m.partition)) return true;
      const p = described.find((d) => d.name === m.topic)?.partitions.find((x) => x.partition === m.partition);
      return p?.replicas?.join(',') !== m.replicas.join(',');
    });
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`still moving after ${timeoutMs} ms: ${left.map((m) => `${m.topic}-${m.partition} -> ${m.replicas.join(',')}`).join('; ')} (sluice cluster status shows which replicas are not in sync)`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
