/** A BrokerContext on a real log manager in a temp dir, for handler and service tests that need no sockets. */
import { openLogManager } from '../../src/storage/log-manager.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger, type Logger } from '../../src/broker/logger.js';
import { NoopBrokerMetrics } from '../../src/metrics/noop-broker-metrics.js';
import type { BrokerMetrics } from '../../src/metrics/broker-metrics.js';
import { Purgatory } from '../../src/broker/purgatory.js';
import { BrokerBudget } from '../../src/broker/output-budget.js';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import type { BrokerContext } from '../../src/broker/context.js';
import type { GroupService } from '../../src/broker/group-service.js';
import type { LogManager } from '../../src/storage/types.js';
import type { FileSystem } from '../../src/storage/file-system.js';
import type { OpenFileCache } from '../../src/storage/open-file-cache.js';
import { ProducerIdCounter } from '../../src/storage/producer-id-counter.js';
import { tempDir } from '../storage/helpers.js';

export interface TestContext {
  ctx: BrokerContext;
  logs: LogManager;
  dir: string;
  /** Closes the log manager and removes the directory. */
  close(): Promise<void>;
}

/** `fs`: the storage file system (a fault-injecting one); `openFiles`: the open-file budget (a small one). */
export async function testContext(opts: { log?: Logger; metrics?: BrokerMetrics; fs?: FileSystem; openFiles?: OpenFileCache } = {}): Promise<TestContext> {
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, {}, { retentionCheckMs: 0, ...(opts.fs ? { fs: opts.fs } : {}), ...(opts.openFiles ? { openFiles: opts.openFiles } : {}) });
  const ctx: BrokerContext = {
    config: loadConfig({ env: {} }).config, logs, readPool: new ReadBufferPool(), output: new BrokerBudget(1 << 30), delayed: new Purgatory(),
    log: opts.log ?? createLogger('error', () => {}), version: 'test', metrics: opts.metrics ?? new NoopBrokerMetrics(),
    // Only topicsChanged() is called on the paths these tests take (a dead-letter topic created).
    groups: { topicsChanged() {} } as unknown as GroupService, producerIds: new ProducerIdCounter(dir), accepting: true,
  };
  return { ctx, logs, dir, close: async () => { await logs.close(); await cleanup(); } };
}
