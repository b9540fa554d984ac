/**
 * The broker's side of src/metrics: the /metrics route, the optional metrics-only port, and
 * the scrape-time partition collector. Everything per request is pushed by the handlers
 * themselves (dispatch, produce, fetch, connection); this file holds what runs per scrape.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { BrokerConfig } from '../config/settings.js';
import type { LogManager } from '../storage/types.js';
import { createBrokerMetrics, type BrokerMetrics, type PartitionStats } from '../metrics/broker-metrics.js';
import { metricsRoute, serveMetrics } from '../metrics/http-route.js';
import { text, type RouteTable } from './http-routes.js';
import type { ReplicaFetcherMetrics } from '../replication/replica-fetcher.js';

export function setUpMetrics(config: BrokerConfig, routes: RouteTable): BrokerMetrics {
  const metrics = createBrokerMetrics({ enabled: config.metrics !== false, collectDefault: true });
  // metrics: false means no route at all (404), not an empty exposition.
  if (metrics.enabled) routes.set('GET /metrics', serveMetrics(metrics));
  return metrics;
}

/**
 * Registers the partition gauges' source: one walk over the open logs per scrape. stats() is
 * in-memory (no I/O), so a scrape of 10,000 partitions stays in the low milliseconds.
 */
export function collectPartitionStats(metrics: BrokerMetrics, logs: LogManager): void {
  metrics.collectPartitions(function* (): Iterable<PartitionStats> {
    for (const t of logs.topics()) {
      for (let p = 0; p < t.partitions; p++) {
        const log = logs.log(t.name, p);
        if (!log) continue; // deleted between topics() and here
        yield { topic: t.name, partition: p, ...log.stats() };
      }
    }
  });
}

/**
 * A second HTTP server answering only /metrics, for setups that keep the client port
 * private. Resolves with its bound port (useful with metricsPort 0). With `tls` (setting
 * tls.metricsPort) it serves https with the broker's certificate, which the caller swaps on
 * SIGHUP (`setSecureContext`); without, plain http whatever the client port serves: a
 * scraper on a private network need not hold the broker's CA.
 */
export async function listenMetricsPort(metrics: BrokerMetrics, host: string, port: number, tls?: SecureContextOptions): Promise<{ server: Server | HttpsServer; port: number }> {
  const route = metricsRoute(metrics);
  const handle = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    if (!route(req, res)) text(res, 404, 'not found');
  };
  const server = tls === undefined ? createServer(handle) : createHttpsServer(tls, handle);
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** The follower's hooks (src/replication/replica-fetcher.ts) onto the broker's metrics. */
export function followerMetrics(metrics: BrokerMetrics): ReplicaFetcherMetrics {
  return {
    lag: (topic, partition, messages) => { metrics.followerLag(topic, partition, messages); },
    lagRemoved: (topic, partition) => { metrics.followerLagRemoved(topic, partition); },
    fetchError: (code) => { metrics.replicaFetchError(code); },
  };
}
