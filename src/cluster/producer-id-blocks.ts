/**
 * Producer ids for the idempotent producer (KIP-98), unique across the cluster: a broker
 * takes a block of ids at a time from `producer-ids/next` by compare-and-swap on the key's
 * mod revision (Kafka's ZooKeeper-era ProducerIdManager did the same on /latest_producer_id_block),
 * then hands ids out of the block locally. Two brokers racing for a block both retry until
 * one wins each round, so no id is ever handed out twice; ids of a block a broker did not use
 * before it died are simply never used.
 */
import type { Etcd3 } from 'etcd3';
import type { ClusterKeys } from './keys.js';

export const PRODUCER_ID_BLOCK_SIZE = 1000;

export interface ProducerIdBlock {
  /** The first id of the block. */
  readonly first: number;
  /** One past the last id of the block. */
  readonly end: number;
}

/** Claims the next free block; retries while other brokers win the race. */
export async function claimProducerIdBlock(client: Etcd3, keys: ClusterKeys, size = PRODUCER_ID_BLOCK_SIZE): Promise<ProducerIdBlock> {
  const key = keys.producerIdNext;
  for (;;) {
    const got = await client.get(key).exec();
    const kv = got.kvs[0];
    const first = kv === undefined ? 0 : Number(kv.value.toString());
    if (!Number.isSafeInteger(first) || first < 0) throw new Error(`${key} holds ${String(kv?.value)}, not a producer id`);
    const end = first + size;
    const guard = kv === undefined
      ? client.if(key, 'Create', '==', 0)
      : client.if(key, 'Mod', '==', Number(kv.mod_revision));
    const res = await guard.then(client.put(key).value(String(end))).commit();
    if (res.succeeded) return { first, end };
  }
}

/** Hands out ids one by one, claiming a new block when the current one is used up. */
export class ProducerIdAllocator {
  private block: ProducerIdBlock = { first: 0, end: 0 };
  private next = 0;
  private claiming: Promise<ProducerIdBlock> | undefined;

  constructor(private readonly client: Etcd3, private readonly keys: ClusterKeys, private readonly size = PRODUCER_ID_BLOCK_SIZE) {}

  async nextId(): Promise<number> {
    while (this.next >= this.block.end) {
      // One claim at a time: concurrent callers wait for the same block.
      this.claiming ??= claimProducerIdBlock(this.client, this.keys, this.size).finally(() => { this.claiming = undefined; });
      const block = await this.claiming;
      if (block.first >= this.block.end) {
        this.block = block;
        this.next = block.first;
      }
    }
    return this.next++;
  }
}
