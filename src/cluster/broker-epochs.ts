/**
 * The broker epochs the controller has handled (Kafka's KIP-380), kept in etcd under
 * `broker-epochs` as `{ "<nodeId>": <epoch>, ... }`, so that a newly elected controller knows
 * them too.
 *
 * A broker's epoch is the create revision of its registration key (BrokerDirectory.epochs).
 * A broker SIGKILLed and restarted before a controller ran a pass without it (its lease
 * expired and it re-registered in between, or the controller itself was the one killed) looks
 * live to the controller all along: without epochs the controller saw no change, and the
 * restarted process led its old partitions again at the same leader epoch, from a fresh
 * start (docs/cluster.md, "Failover"). With them, a live broker whose epoch is not the one
 * handled last is a failure followed by a start-up: one pass decides every partition as if
 * it were dead, the next one as if it had just registered.
 *
 * Pure apart from the two etcd calls; the controller writes the record with its fenced
 * transaction, so a deposed controller cannot.
 */
import type { Etcd3 } from 'etcd3';
import type { ClusterKeys } from './keys.js';

export type BrokerEpochs = ReadonlyMap<number, number>;

/** The record as stored; a value no broker wrote is reported through `onInvalid` and read as empty (every live broker then counts as first seen). */
export async function readBrokerEpochs(client: Etcd3, keys: ClusterKeys, onInvalid: (err: Error) => void = () => {}): Promise<BrokerEpochs> {
  const raw = await client.get(keys.brokerEpochs).string();
  if (raw === null) return new Map();
  try {
    return decodeBrokerEpochs(raw);
  } catch (err) {
    onInvalid(err as Error);
    return new Map();
  }
}

export function decodeBrokerEpochs(json: string): BrokerEpochs {
  const v = JSON.parse(json) as unknown;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('broker-epochs: not an object of node id to epoch');
  const out = new Map<number, number>();
  for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
    const id = Number(k);
    if (!Number.isInteger(id) || !Number.isInteger(e)) throw new Error(`broker-epochs: entry ${JSON.stringify(k)}: ${JSON.stringify(e)} is not a node id and an integer epoch`);
    out.set(id, e as number);
  }
  return out;
}

export function encodeBrokerEpochs(epochs: BrokerEpochs): string {
  return JSON.stringify(Object.fromEntries([...epochs].sort(([a], [b]) => a - b)));
}

/**
 * Live brokers whose epoch differs from the one handled last: each restarted (or re-registered
 * after losing its session) since. A broker never handled is first seen, not bounced.
 */
export function bouncedBrokers(handled: BrokerEpochs, live: BrokerEpochs): number[] {
  const out: number[] = [];
  for (const [id, epoch] of live) {
    const known = handled.get(id);
    if (known !== undefined && known !== epoch) out.push(id);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The record after a pass that started with `live` and ended with `endLive` (the directory
 * again once every partition was decided): every broker live at the start at its epoch then;
 * a broker absent at both ends dropped, since the pass decided without it (its leaderships
 * moved, it left the ISRs) and its return is a start-up, not a bounce. Kept at its old epoch,
 * it would count as bounced when it came back and that pass would take it out of the ISRs its
 * leaders had let it back into: a reduced ISR for one more catch-up after every lost lease
 * (test/cluster/coordinator-fencing.test.ts met NOT_ENOUGH_REPLICAS so). A broker absent at
 * the start but back by the end keeps its old epoch: the pass's decisions read the directory
 * as they went (Controller.next) and may have counted it live, so its death may not have been
 * handled (test/cluster/controller.test.ts, the bounce seen as a delete and a put a moment
 * apart). Undefined when nothing changed, so a pass writes it only when a broker started,
 * bounced or died.
 */
export function handledEpochs(handled: BrokerEpochs, live: BrokerEpochs, endLive: BrokerEpochs = live): BrokerEpochs | undefined {
  let changed = false;
  const out = new Map<number, number>();
  for (const [id, epoch] of handled) {
    if (live.has(id)) continue;
    if (endLive.has(id)) out.set(id, epoch);
    else changed = true;
  }
  for (const [id, epoch] of live) {
    out.set(id, epoch);
    if (handled.get(id) !== epoch) changed = true;
  }
  return changed ? out : undefined;
}
