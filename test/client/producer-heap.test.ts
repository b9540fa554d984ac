// The producer must not keep the batches it has in flight where the garbage collector
// promotes them. Found by an A/B of `sluice bench produce` (this session, medians of 3):
// the client's CPU per message rose 30-50 % when the delivery timeout added a Map from each
// in-flight batch to its request. The Map, made with the producer, lives in the old
// generation; young batches set in it and deleted at the request rate were promoted by the
// scavenger with everything they reach (records, sends), so the old generation filled with
// dead batches and full collections ran more often (bench client: heap peak ~100 MB vs ~40 MB).
//
// What is measured is the bytes the scavenges move into the old generation while the producer
// sends (v8.GCProfiler): allocation-driven, so a loaded machine does not change it. The
// broker is a sink connection that keeps nothing (the fake cluster records every request,
// which would be promoted for reasons of its own).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '../../src/client/producer.js';
import type { ConnectionOptions } from '../../src/client/connection.js';
import { SinkConnection } from './sink-connection.js';
import { promotedWhile } from '../heap-while.js';
import { Api, type ApiKey } from '../../src/protocol/api.js';
import type { BodyOf, ResponseOf } from '../../src/protocol/api-table.js';
import { lastOffsetOf } from '../../src/record/index.js';

/** Answers Metadata (one partition), InitProducerId and Produce, on the next turn; keeps nothing. */
class ProduceSink extends SinkConnection {
  private offset = 0;
  constructor(urls: readonly string[], opts: ConnectionOptions) {
    super(urls, opts, 'ws://sink:9400');
  }

  override async request<A extends ApiKey>(api: A, body: BodyOf<A>): Promise<ResponseOf<A>> {
    await new Promise<void>((resolve) => setImmediate(resolve)); // answered later, as a broker does
    const b = body as any;
    switch (api) {
      case Api.Metadata:
        return { brokerVersion: 'sink', topics: (b.topics as string[]).map((name) => ({ name, partitions: 1, config: {} })) } as any;
      case Api.InitProducerId:
        return { producerId: 1, producerEpoch: 0 } as any;
      case Api.Produce:
        return {
          partitions: b.partitions.map((p: any) => {
            const baseOffset = this.offset;
            this.offset += lastOffsetOf(p.records) + 1; // the producer numbers its batch from 0
            return { topic: p.topic, partition: p.partition, baseOffset };
          }),
        } as any;
      default:
        throw new Error(`sink connection: api ${api}`);
    }
  }

  override async sendOnly(api: typeof Api.Produce, body: BodyOf<typeof Api.Produce>): Promise<void> {
    await this.request(api, body);
  }
}


test('sending a million messages promotes next to nothing into the old generation: in-flight batches are not kept where the scavenger promotes them', async () => {
  const producer = new Producer({ brokers: ['ws://sink:9400'], connectionFactory: (urls, opts) => new ProduceSink(urls, opts), lingerMs: 5 });
  await producer.send('t', { value: 'first' }); // metadata and producer id
  const value = Buffer.alloc(150, 1);
  const MESSAGES = 1_000_000;
  const CHUNK = 1000;
  const WINDOW = 32; // sendBatch calls outstanding, as `sluice bench produce` keeps them
  let acked = 0;
  const promoted = await promotedWhile(async () => {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < MESSAGES; i += CHUNK) {
      // A Buffer view per message, as the bench's payload pool hands them out.
      const messages = Array.from({ length: CHUNK }, (_, k) => ({ value: value.subarray(k % 50, (k % 50) + 100) }));
      pending.push(producer.sendBatch('t', messages).then(() => { acked += CHUNK; }));
      if (pending.length >= WINDOW) await pending.shift();
    }
    await Promise.all(pending);
  });
  assert.equal(acked, MESSAGES);
  await producer.close();
  // Measured (load 7-9): 5-9 MB with the in-flight requests in an array, as before the delivery
  // timeout (4-9 MB); 74-84 MB with the batches in a Map.
  assert.ok(promoted < 30e6, `the scavenges promoted ${(promoted / 1e6).toFixed(1)} MB while 1M messages were sent`);
});
