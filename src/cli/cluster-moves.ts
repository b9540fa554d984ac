/**
 * `sluice cluster drain NODE` and `sluice cluster rebalance`: plan reassignments from what a
 * broker's Metadata says (every topic's replicas, the live brokers; src/cluster/move-plans.ts),
 * start them through the Admin call, print each move, and with `--wait` wait until all are done.
 */
import { Api } from '../protocol/api.js';
import type { Admin } from '../client/admin.js';
import { planDrain, planRebalance, type PlacedPartition, type PlannedMove } from '../cluster/move-plans.js';
import { waitForMoves } from './reassign-wait.js';

export interface MoveOptions {
  wait?: boolean;
  timeoutMs: number;
  out: (line: string) => void;
}

async function clusterLayout(admin: Admin): Promise<{ parts: PlacedPartition[]; live: number[] }> {
  const md = await admin.conn.request(Api.Metadata, {});
  if (md.brokers === undefined) throw new Error('the broker is not in cluster mode: there is nothing to move replicas to');
  const parts: PlacedPartition[] = [];
  for (const t of md.topics) {
    for (const p of t.partitionInfo ?? []) parts.push({ topic: t.name, partition: p.partition, replicas: p.replicas });
  }
  return { parts, live: md.brokers.map((b) => b.nodeId) };
}

async function start(admin: Admin, moves: PlannedMove[], o: MoveOptions): Promise<void> {
  if (moves.length === 0) {
    o.out('nothing to move');
    return;
  }
  await admin.reassignPartitions(moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: m.replicas })));
  for (const m of moves) o.out(`reassigning ${m.topic}-${m.partition}: ${m.from.join(',')} -> ${m.replicas.join(',')}`);
  if (o.wait) {
    await waitForMoves(admin, moves, o.timeoutMs);
    o.out(`done: ${moves.length} partition(s) moved`);
  }
}

export async function drain(admin: Admin, node: number, o: MoveOptions): Promise<void> {
  const { parts, live } = await clusterLayout(admin);
  const { moves, stuck } = planDrain(parts, node, live);
  if (stuck.length > 0) {
    throw new Error(`cannot drain broker ${node}: no live broker is free for ${stuck.map((p) => `${p.topic}-${p.partition} (replicas ${p.replicas.join(',')})`).join(', ')}; add a broker or lower the replication factor`);
  }
  await start(admin, moves, o);
}

export async function rebalance(admin: Admin, o: MoveOptions): Promise<void> {
  const { parts, live } = await clusterLayout(admin);
  await start(admin, planRebalance(parts, live), o);
}
