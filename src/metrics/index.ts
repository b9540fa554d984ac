/** Public surface of src/metrics: what the broker and the CLI import. */
export {
  createBrokerMetrics,
  type BrokerMetrics,
  type BrokerMetricsOptions,
  type GroupPartitionStats,
  type GroupStats,
  type PartitionStats,
  type QueueStats,
} from './broker-metrics.js';
export { PromBrokerMetrics, LATENCY_BUCKETS, GROUP_STATES } from './prom-broker-metrics.js';
export { NoopBrokerMetrics } from './noop-broker-metrics.js';
export { metricsRoute, serveMetrics, type MetricsRoute } from './http-route.js';
