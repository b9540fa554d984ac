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
import { encodeBatch, type RecordInput } from '../../src/record/index.js';
import { ShareCoordinators, stopShareService } from '../../src/broker/share-coordinators.js';
import type { ShareService } from '../../src/broker/share-service.js';

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
  return { ctx: contextOn(logs, opts), logs, dir, close: async () => { await logs.close(); await cleanup(); } };
}

/** A BrokerContext over a log manager the test opened itself (its own config, file system or restarts). */
export function contextOn(logs: LogManager, opts: { log?: Logger; metrics?: BrokerMetrics } = {}): BrokerContext {
  return {
    config: loadConfig({ env: {} }).config, logs, readPool: new ReadBufferPool(), output: new BrokerBudget(1 << 30), delayed: new Purgatory(),
    log: opts.log ?? createLogger('error', () => {}), version: 'test', metrics: opts.metrics ?? new NoopBrokerMetrics(),
    // Only topicsChanged() is called on the paths these tests take (a dead-letter topic created).
    groups: { topicsChanged() {} } as unknown as GroupService, producerIds: new ProducerIdCounter(logs.dataDir), accepting: true,
  };
}

/**
 * A context with a topic `jobs` of one partition and the share service started; both stop
 * when the test ends. The partition holds one batch: `jobs` records (`job-0`, ...) for a
 * number, else those records. What the share handler tests start from.
 */
export async function shareJobsContext(t: { after: (fn: () => Promise<void>) => void }, jobs: number | RecordInput[], opts: Parameters<typeof testContext>[0] = {}): Promise<TestContext & { svc: ShareService }> {
  const tc = await testContext(opts);
  await tc.logs.createTopic('jobs', 1);
  const records = typeof jobs === 'number' ? Array.from({ length: jobs }, (_, i) => ({ value: `job-${i}` })) : jobs;
  await tc.logs.log('jobs', 0)!.append(encodeBatch(records));
  const svc = (await ShareCoordinators.start(tc.ctx)).single!;
  t.after(async () => {
    await stopShareService(tc.ctx);
    await tc.close();
  });
  return { ...tc, svc };
}
