// The share coordinator's reader of partitions it holds no in-sync replica of
// (remote-partition-reader.ts), against an in-test leader: what it serves stays below the
// leader's high watermark, an acquire's read after a poll does not fetch again (the cache),
// a poll that moves the end wakes the partition, and a leader change is followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch, setBaseOffset, decodeBatches } from '../../src/record/index.js';
import { Api, EARLIEST, LATEST, type ApiKey } from '../../src/protocol/api.js';
import type { BodyOf, ResponseOf } from '../../src/protocol/api-table.js';
import type { BrokerLink } from '../../src/replication/types.js';
import { SILENT_EVENT_LOGGER } from '../../src/event-logger.js';
import { RemotePartitionReader } from '../../src/broker/remote-partition-reader.js';

/** A leader of `t`-0 whose log is batches of 5 records; it serves consumers below `hw` only. */
class FakeLeader implements BrokerLink {
  readonly batches: Buffer[] = [];
  hw = 0;
  fetches: number[] = [];
  constructor(records: number) {
    for (let base = 0; base < records; base += 5) {
      const b = encodeBatch(Array.from({ length: 5 }, (_, i) => ({ value: `v${base + i}` })));
      setBaseOffset(b, 0, base);
      this.batches.push(b);
    }
  }
  async request<A extends ApiKey>(api: A, body: BodyOf<A>): Promise<ResponseOf<A>> {
    if (api === Api.ListOffsets) {
      const parts = (body as BodyOf<typeof Api.ListOffsets>).partitions;
      return { id: 1, partitions: parts.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.timestamp === EARLIEST ? 0 : p.timestamp === LATEST ? this.hw : 0 })) } as unknown as ResponseOf<A>;
    }
    const p = (body as BodyOf<typeof Api.Fetch>).partitions[0]!;
    this.fetches.push(p.offset);
    const out = this.batches.filter((_, i) => i * 5 + 4 >= p.offset && i * 5 + 4 < this.hw);
    return { id: 1, partitions: [{ topic: p.topic, partition: p.partition, highWatermark: this.hw, logStartOffset: 0, records: Buffer.concat(out) }] } as unknown as ResponseOf<A>;
  }
  async close(): Promise<void> {}
}

function offsets(bytes: Buffer): number[] {
  return [...decodeBatches(bytes)].flatMap((b) => b.records.map((r) => r.offset));
}

test('reads stay below the leader\'s high watermark, come from the cache after a poll, and a moved end wakes the partition', async () => {
  const leader = new FakeLeader(40);
  leader.hw = 10;
  const woken: string[] = [];
  const reader = new RemotePartitionReader({
    links: async () => leader, leaderOf: () => ({ leader: 2, leaderEpoch: 0 }), log: SILENT_EVENT_LOGGER, pollWaitMs: 10,
    onAdvance: (t, p) => woken.push(`${t}-${p}`),
  });
  assert.equal(reader.bounds('t', 0), undefined, 'nothing offered before the leader answered');
  await waitFor(() => reader.bounds('t', 0) !== undefined);
  assert.deepEqual(reader.bounds('t', 0), { logStartOffset: 0, highWatermark: 10 });
  assert.deepEqual(woken, ['t-0']);

  // A read past the high watermark gets only what is below it.
  assert.deepEqual(offsets(await reader.read('t', 0, 5, 30)), [5, 6, 7, 8, 9]);
  // The leader commits more; a poll (started by bounds) brings the new batches and wakes.
  leader.hw = 20;
  await waitFor(() => { reader.bounds('t', 0); return woken.length === 2; });
  assert.equal(reader.bounds('t', 0)!.highWatermark, 20);
  const fetchesBefore = leader.fetches.length;
  // One record at a time, as acquires take them: no fetch, the cache has them.
  for (let o = 10; o < 20; o++) assert.deepEqual(offsets(await reader.read('t', 0, o, o)), [o - (o % 5), o - (o % 5) + 1, o - (o % 5) + 2, o - (o % 5) + 3, o - (o % 5) + 4]);
  assert.equal(leader.fetches.length, fetchesBefore, 'reads of what the poll brought do not fetch');
  // Below the cache (never fetched): fetched once, then cached.
  assert.deepEqual(offsets(await reader.read('t', 0, 0, 4)), [0, 1, 2, 3, 4]);
  assert.deepEqual(offsets(await reader.read('t', 0, 0, 4)), [0, 1, 2, 3, 4]);
  assert.equal(leader.fetches.filter((o) => o === 0).length, 1);
  reader.close();
});

test('a leader change is followed: reads go to the partition\'s leader of the moment', async () => {
  const a = new FakeLeader(10);
  const b = new FakeLeader(10);
  a.hw = 5;
  b.hw = 10;
  let leader = 1;
  const reader = new RemotePartitionReader({
    links: async (id) => (id === 1 ? a : b), leaderOf: () => ({ leader, leaderEpoch: leader }), log: SILENT_EVENT_LOGGER, pollWaitMs: 10, onAdvance: () => {},
  });
  assert.deepEqual(offsets(await reader.read('t', 0, 0, 9)), [0, 1, 2, 3, 4]);
  leader = 2;
  assert.deepEqual(offsets(await reader.read('t', 0, 0, 9)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(b.fetches, [5], 'the new leader is asked for what the cache lacks');
  reader.close();
});

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}
