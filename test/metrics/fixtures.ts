/** Puts a value into every family of a BrokerMetrics, so a scrape shows all of them. */
import { readFileSync } from 'node:fs';
import type { BrokerMetrics } from '../../src/metrics/index.js';

export function populateAll(m: BrokerMetrics): void {
  m.produced('orders', 10, 1000);
  m.fetched('orders', 4, 400);
  m.request('Produce', 0.0003);
  m.request('Fetch', 0.2, 'OFFSET_OUT_OF_RANGE');
  m.partitionError('Produce', 'UNKNOWN_TOPIC_OR_PARTITION');
  m.fsync(0.004);
  m.connectionOpened();
  m.setBufferedBytes(4096);
  m.rebalance('billing');
  m.redelivered('workers', 2);
  m.deadLettered('workers', 1);
  m.corruptRead('orders');
  m.recoveryDropped('orders', 4096, 50);
  m.collectPartitions(() => [
    { topic: 'orders', partition: 0, logStartOffset: 0, logEndOffset: 10, sizeBytes: 1000, segmentCount: 1, fsyncCount: 3 },
    { topic: 'orders', partition: 1, logStartOffset: 5, logEndOffset: 7, sizeBytes: 300, segmentCount: 2 },
  ]);
  m.collectGroups(() => [
    {
      group: 'billing',
      state: 'Stable',
      members: 2,
      partitions: [{ topic: 'orders', partition: 0, committedOffset: 6, logEndOffset: 10, lagMessages: 4, lagSeconds: 1.5 }],
    },
  ]);
  m.collectQueues(() => [
    { group: 'workers', topic: 'jobs', inFlight: 3, available: 7, delayed: 4, acked: 1, deadLettered: 1, cancelled: 0, oldestUnackedAgeSeconds: 12 },
  ]);
  m.isrShrunk();
  m.isrExpanded();
  m.collectReplication(() => ({ underReplicatedPartitions: 1, followers: [{ topic: 'orders', partition: 0, replica: 2, lagMessages: 5 }] }));
  m.followerLag('orders', 1, 3);
  m.replicaFetchError('NOT_LEADER_OR_FOLLOWER');
  m.collectCluster(() => ({
    sessionUp: true, controllerActive: true, liveBrokers: 3, leaderElections: 2, offlinePartitions: 1, preferredLeaderImbalance: 1, leaderImbalanceChecks: 4, autoLeaderElections: 1,
  }));
}

/** Every PromQL expression in config/grafana-dashboard.json. */
export function dashboardQueries(): string[] {
  const dash = JSON.parse(readFileSync('config/grafana-dashboard.json', 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
  };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

/** A dashboard expression with Grafana's variables replaced, so Prometheus itself can run it. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5s').replace(/\$(instance|topic|group)\b/g, '.*');
}
