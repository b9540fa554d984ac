// The share service's commit chain on a real log manager: a durable commit whose change an
// earlier queued non-durable commit writes must still be fsynced before it resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLogManager } from '../../src/storage/log-manager.js';
import { ProducerIdCounter } from '../../src/storage/producer-id-counter.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/broker/logger.js';
import { NoopBrokerMetrics } from '../../src/metrics/noop-broker-metrics.js';
import { Purgatory } from '../../src/broker/purgatory.js';
import { BrokerBudget } from '../../src/broker/output-budget.js';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import { ShareCoordinators, stopShareService } from '../../src/broker/share-coordinators.js';
import type { BrokerContext } from '../../src/broker/context.js';
import type { GroupService } from '../../src/broker/group-service.js';
import { tempDir } from '../storage/helpers.js';

test('a delete answered as durable is fsynced even when an earlier queued non-durable commit writes it', async (t) => {
  const { dir, cleanup } = await tempDir();
  let fsyncs = 0;
  // flushMs -1: no background flush, so every fsync comes from a durable write.
  const logs = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0, onFsync: () => { fsyncs++; } });
  const ctx: BrokerContext = {
    config: loadConfig({ env: {} }).config, logs, readPool: new ReadBufferPool(), output: new BrokerBudget(1 << 30), delayed: new Purgatory(),
    log: createLogger('error', () => {}), version: 'test', metrics: new NoopBrokerMetrics(), groups: undefined as unknown as GroupService, producerIds: new ProducerIdCounter(logs.dataDir), accepting: true,
  };
  const svc = (await ShareCoordinators.start(ctx)).single!;
  t.after(async () => {
    await stopShareService(ctx);
    await logs.close();
    await cleanup();
  });
  svc.coord.configure('g', { maxDeliveries: 3 });
  await svc.commit([], true);

  // An acquire-style commit (not durable) is queued first, then the delete's durable one, in
  // the same tick: the first persist drains both changes.
  svc.coord.heartbeat('other', 'w');
  const first = svc.commit([], false);
  svc.coord.deleteGroup('g');
  const before = fsyncs;
  await svc.commit([], true);
  assert.ok(fsyncs > before, 'the delete reached the disk with an fsync before its commit resolved');
  await first;
});
