// A replicated share coordinator's state log compacts in place (docs/cluster.md, "Share
// groups"): on a dir that keeps one generation for life (a `__share_state` partition's
// shape), many ack cycles make the service snapshot its groups into the log and move the log
// start there; a service opened on the same log afterwards has exactly the same groups (acked
// stay acked, delivery counts kept, the held records available again). Without compaction on
// replicated partitions the log start never moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryGenerationDir } from '../../src/state-log/memory-generation-dir.js';
import { ShareService } from '../../src/broker/share-service.js';
import type { PartitionSource } from '../../src/queue/share-coordinator.js';
import { testContext } from './test-context.js';

const SOURCES: PartitionSource[] = [0, 1].map((partition) => ({ topic: 'jobs', partition, logStartOffset: 0, logEndOffset: 10_000 }));

test('a replicated share state log compacts in place, and a coordinator rebuilt from it has the same groups', async (t) => {
  const tc = await testContext();
  const dir = new MemoryGenerationDir({ inPlace: true });
  const replicated = { partition: 3, onWriteFailed: () => assert.fail('no write fails here') };
  let svc = await ShareService.open(tc.ctx, dir, { replicated });
  t.after(async () => {
    await svc.close();
    await tc.close();
  });
  svc.coord.configure('g', { maxDeliveries: 5 });
  // 800 cycles of acquire + ack, each persisted: 1600 records on 3 live keys, past the
  // single broker's thresholds (1000 records, 4x live keys).
  for (let i = 0; i < 800; i++) {
    const got = svc.coord.acquire('g', 'w1', SOURCES, 1);
    await svc.commit([], false);
    svc.coord.ack('g', 'w1', got.map((g) => ({ topic: g.topic, partition: g.partition, offsets: [g.ranges[0].firstOffset] })));
    await svc.commit([], true);
  }
  // Three records of partition 0 released once (delivery count 1 kept), acquired again and held (count 2).
  const held = svc.coord.acquire('g', 'w1', SOURCES.slice(0, 1), 3);
  await svc.commit([], false);
  svc.coord.release('g', 'w1', held.map((g) => ({ topic: g.topic, partition: g.partition, offsets: g.ranges.flatMap((r) => range(r.firstOffset, r.lastOffset)) })), { delayMs: 0 });
  await svc.commit([], true);
  const again = svc.coord.acquire('g', 'w1', SOURCES.slice(0, 1), 3);
  await svc.commit([], true);
  assert.deepEqual(again.flatMap((g) => g.ranges.map((r) => r.deliveryCount)).sort(), again.flatMap((g) => g.ranges.map(() => 2)), 'held at count 2');

  const log = await dir.open(0);
  assert.ok(log.logStartOffset > 0, `the log start moved past the history (it is ${log.logStartOffset})`);
  assert.ok(log.logEndOffset - log.logStartOffset < 1000, `what is left is a snapshot and what followed (${log.logEndOffset - log.logStartOffset} records)`);
  const before = svc.coord.describe('g');
  await svc.close();

  svc = await ShareService.open(tc.ctx, dir, { replicated });
  const after = svc.coord.describe('g');
  assert.deepEqual(after.config, before.config);
  assert.equal(after.acked, 800, 'acked stay acked');
  assert.equal(after.acked, before.acked);
  assert.equal(after.redeliveries, before.redeliveries);
  assert.deepEqual(after.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]), before.partitions.map((p) => [p.partition, p.startOffset, p.endOffset]));
  assert.equal(after.inFlight, 0, 'the new coordinator knows no worker');
  // The held records come back first, at count 3: their two deliveries were kept.
  const back = svc.coord.acquire('g', 'w2', SOURCES.slice(0, 1), 3);
  assert.deepEqual(
    back.flatMap((g) => g.ranges.flatMap((r) => range(r.firstOffset, r.lastOffset).map((o) => [g.partition, o, r.deliveryCount]))).sort(),
    again.flatMap((g) => g.ranges.flatMap((r) => range(r.firstOffset, r.lastOffset).map((o) => [g.partition, o, 3]))).sort(),
  );
});

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
