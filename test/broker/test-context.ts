/** A BrokerContext on a real log manager in a temp dir, for handler and service tests that need no sockets. */
import { openLogManager } from '../../src/storage/log-manager.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger, type Logger } from '../../src/broker/logger.js';
import { NoopBrokerMetrics } from '../../src/metrics/noop-broker-metrics.js';
import type { BrokerMetrics } from '../../src/metrics/broker-metrics.js';
import { FetchWaiters } from '../../src/broker/fetch-waiters.js';
import { BrokerBudget } from '../../src/broker/output-budget.js';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import type { BrokerContext } from '../../src/broker/context.js';
import type { GroupService } from '../../src/broker/group-service.js';
import type { LogManager } from '../../src/storage/types.js';
import { tempDir } from '../storage/helpers.js';

export interface TestContext {
  ctx: BrokerContext;
  logs: LogManager;
  dir: string;
  /** Closes the log manager and removes the directory. */
  close(): Promise<void>;
}

export async function testContext(opts: { log?: Logger; metrics?: BrokerMetrics } = {}): Promise<TestContext> {
  const { dir, cleanup } = await tempDir();
  const logs = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  const ctx: BrokerContext = {
    config: loadConfig({ env: {} }).config, logs, readPool: new ReadBufferPool(), output: new BrokerBudget(1 << 30), waiters: new FetchWaiters(),
    log: opts.log ?? createLogger('error', () => {}), version: 'test', metrics: opts.metrics ?? new NoopBrokerMetrics(),
    // Only topicsChanged() is called on the paths these tests take (a dead-letter topic created).
    groups: { topicsChanged() {} } as unknown as GroupService, accepting: true,
  };
  return { ctx, logs, dir, close: async () => { await logs.close(); await cleanup(); } };
}
