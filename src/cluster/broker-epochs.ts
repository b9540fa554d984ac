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
 * The record after a pass that handled `live`: every live broker at its epoch now, the brokers
 * not live kept as they were (one that comes back with a new epoch then counts as bounced, which
 * costs a pass with nothing to do: its death was handled when its lease expired). Undefined
 * when nothing changed, so a pass writes it only when a broker started or bounced.
 */
export function handledEpochs(handled: BrokerEpochs, live: BrokerEpochs): BrokerEpochs | undefined {
  let changed = false;
  const out = new Map(handled);
  for (const [id, epoch] of live) {
    if (out.get(id) === epoch) continue;
    out.set(id, epoch);
    changed = true;
  }
  return changed ? out : undefined;
}
