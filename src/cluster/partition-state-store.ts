/**
 * Reading and writing `partitions/<topic>/<p>` (docs/cluster.md). Every write compares the
 * key's mod revision with the one the writer read, as Kafka compared ZooKeeper's zkVersion:
 * a controller and a leader changing one partition at once never overwrite each other; the
 * loser re-reads and decides again.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { ClusterKeys } from './keys.js';
import { revision } from './keys.js';
import { parsePartitionState, type PartitionState } from './partition-state.js';

export interface StoredPartitionState {
  readonly topic: string;
  readonly partition: number;
  readonly state: PartitionState;
  /** The key's mod revision when read: the compare-and-swap token. */
  readonly modRevision: number;
  readonly key: string;
}

export function decodeStoredState(keys: ClusterKeys, kv: IKeyValue): StoredPartitionState | undefined {
  const key = kv.key.toString();
  const rest = key.slice(keys.partitionsPrefix.length);
  const slash = rest.lastIndexOf('/');
  const partition = Number(rest.slice(slash + 1));
  if (slash <= 0 || !Number.isInteger(partition)) return undefined;
  return { topic: rest.slice(0, slash), partition, state: parsePartitionState(kv.value.toString()), modRevision: revision(kv.mod_revision), key };
}

export async function readPartitionState(client: Etcd3, keys: ClusterKeys, topic: string, partition: number): Promise<StoredPartitionState | undefined> {
  const res = await client.get(keys.partition(topic, partition)).exec();
  const kv = res.kvs[0];
  return kv === undefined ? undefined : decodeStoredState(keys, kv);
}

/**
 * Every partition's state, with the revision the read saw (to start a watch right after it). A
 * value no broker wrote is skipped and told to `onInvalid`: one bad key must not stop every
 * controller pass (a dead broker's other partitions would keep no leader), as the view skips it.
 */
export async function readAllPartitionStates(
  client: Etcd3, keys: ClusterKeys, onInvalid: (key: string, err: Error) => void = () => {},
): Promise<{ states: StoredPartitionState[]; revision: number }> {
  const res = await client.getAll().prefix(keys.partitionsPrefix).exec();
  const states: StoredPartitionState[] = [];
  for (const kv of res.kvs) {
    let s: StoredPartitionState | undefined;
    try {
      s = decodeStoredState(keys, kv);
    } catch (err) {
      onInvalid(kv.key.toString(), err as Error);
      continue;
    }
    if (s !== undefined) states.push(s);
  }
  return { states, revision: revision(res.header.revision) };
}

/**
 * The leader's own write (an ISR change): succeeds only if nobody wrote the key since
 * `expected` was read. Resolves with the new mod revision, or undefined when it lost the race.
 */
export async function casPartitionState(client: Etcd3, expected: StoredPartitionState, next: PartitionState): Promise<number | undefined> {
  const res = await client.if(expected.key, 'Mod', '==', expected.modRevision)
    .then(client.put(expected.key).value(JSON.stringify(next)))
    .commit();
  return res.succeeded ? revision(res.header.revision) : undefined;
}
