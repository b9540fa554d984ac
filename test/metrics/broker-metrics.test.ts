import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBrokerMetrics, LATENCY_BUCKETS, type BrokerMetrics, type PartitionStats } from '../../src/metrics/index.js';
import { find, parseExposition, valueOf, type Exposition } from './exposition.js';
import { populateAll } from './fixtures.js';

function fresh(): BrokerMetrics {
  return createBrokerMetrics({ collectDefault: false });
}

async function scrape(m: BrokerMetrics): Promise<Exposition> {
  return parseExposition(await m.metricsText());
}

describe('BrokerMetrics (Prometheus)', () => {
  it('counts messages and bytes in and out per topic, accumulating', async () => {
    const m = fresh();
    m.produced('orders', 10, 1000);
    m.produced('orders', 5, 500);
    m.produced('audit', 1, 80);
    m.fetched('orders', 3, 300);
    m.fetched('orders', undefined, 50); // records unknown: only bytes count
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_messages_in_total', { topic: 'orders' }), 15);
    assert.equal(valueOf(e, 'sluice_bytes_in_total', { topic: 'orders' }), 1500);
    assert.equal(valueOf(e, 'sluice_messages_in_total', { topic: 'audit' }), 1);
    assert.equal(valueOf(e, 'sluice_messages_out_total', { topic: 'orders' }), 3);
    assert.equal(valueOf(e, 'sluice_bytes_out_total', { topic: 'orders' }), 350);
    assert.equal(e.type.get('sluice_bytes_in_total'), 'counter');
  });

  it('counts requests and errors per api and observes latency into cumulative buckets', async () => {
    const m = fresh();
    m.request('Produce', 0.0001); // exactly on a bound: le is inclusive
    m.request('Produce', 0.003);
    m.request('Produce', 42); // beyond the last bound: only +Inf
    m.request('Fetch', 0.2, 'OFFSET_OUT_OF_RANGE');
    m.partitionError('Produce', 'UNKNOWN_TOPIC_OR_PARTITION');
    m.partitionError('Produce', 'UNKNOWN_TOPIC_OR_PARTITION');
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_requests_total', { api: 'Produce' }), 3);
    assert.equal(valueOf(e, 'sluice_requests_total', { api: 'Fetch' }), 1);
    assert.equal(valueOf(e, 'sluice_request_errors_total', { api: 'Fetch', error: 'OFFSET_OUT_OF_RANGE' }), 1);
    assert.equal(valueOf(e, 'sluice_request_errors_total', { api: 'Produce', error: 'UNKNOWN_TOPIC_OR_PARTITION' }), 2);
    assert.equal(find(e, 'sluice_request_errors_total', { api: 'Produce', error: 'OFFSET_OUT_OF_RANGE' }).length, 0);

    const bucket = (le: string) => valueOf(e, 'sluice_request_duration_seconds_bucket', { api: 'Produce', le });
    assert.equal(bucket('0.0001'), 1);
    assert.equal(bucket('0.0025'), 1);
    assert.equal(bucket('0.005'), 2);
    assert.equal(bucket('10'), 2);
    assert.equal(bucket('+Inf'), 3);
    assert.equal(find(e, 'sluice_request_duration_seconds_bucket', { api: 'Produce' }).length, LATENCY_BUCKETS.length + 1);
    assert.equal(valueOf(e, 'sluice_request_duration_seconds_count', { api: 'Produce' }), 3);
    assert.ok(Math.abs(valueOf(e, 'sluice_request_duration_seconds_sum', { api: 'Produce' }) - 42.0031) < 1e-9);
    assert.equal(e.type.get('sluice_request_duration_seconds'), 'histogram');
  });

  it('buckets span 0.1 ms to 10 s', () => {
    assert.equal(LATENCY_BUCKETS[0], 0.0001);
    assert.equal(LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1], 10);
  });

  it('records fsync latency and count', async () => {
    const m = fresh();
    m.fsync(0.004);
    m.fsync(0.02);
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_fsync_duration_seconds_count'), 2);
    assert.equal(valueOf(e, 'sluice_fsync_duration_seconds_bucket', { le: '0.005' }), 1);
    assert.equal(valueOf(e, 'sluice_fsync_duration_seconds_bucket', { le: '0.025' }), 2);
  });

  it('tracks open connections, accepted connections and buffered bytes', async () => {
    const m = fresh();
    m.connectionOpened();
    m.connectionOpened();
    m.connectionOpened();
    m.connectionClosed();
    m.setBufferedBytes(1000);
    m.addBufferedBytes(500);
    m.addBufferedBytes(-200);
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_connections'), 2);
    assert.equal(valueOf(e, 'sluice_connections_opened_total'), 3);
    assert.equal(valueOf(e, 'sluice_buffered_bytes'), 1300);
  });

  it('counts rebalances, redeliveries and dead letters per group', async () => {
    const m = fresh();
    m.rebalance('billing');
    m.rebalance('billing');
    m.redelivered('workers', 3);
    m.deadLettered('workers', 2);
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_group_rebalances_total', { group: 'billing' }), 2);
    assert.equal(valueOf(e, 'sluice_queue_redeliveries_total', { group: 'workers' }), 3);
    assert.equal(valueOf(e, 'sluice_queue_dead_lettered_total', { group: 'workers' }), 2);
  });

  it('collects partition gauges at scrape time, once per scrape, and drops partitions that went away', async () => {
    const m = fresh();
    let calls = 0;
    let parts: PartitionStats[] = [
      { topic: 'orders', partition: 0, logStartOffset: 0, logEndOffset: 10, sizeBytes: 1000, segmentCount: 1, fsyncCount: 9 },
      { topic: 'orders', partition: 1, logStartOffset: 5, logEndOffset: 7, sizeBytes: 300, segmentCount: 2 },
    ];
    m.collectPartitions(() => {
      calls++;
      return parts;
    });
    let e = await scrape(m);
    assert.equal(calls, 1, 'the partition families share one walk of the logs');
    assert.equal(valueOf(e, 'sluice_partition_log_start_offset', { topic: 'orders', partition: '1' }), 5);
    assert.equal(valueOf(e, 'sluice_partition_log_end_offset', { topic: 'orders', partition: '0' }), 10);
    assert.equal(valueOf(e, 'sluice_partition_size_bytes', { topic: 'orders', partition: '1' }), 300);
    assert.equal(valueOf(e, 'sluice_partition_segments', { topic: 'orders', partition: '1' }), 2);
    assert.equal(valueOf(e, 'sluice_partition_fsyncs_total', { topic: 'orders', partition: '0' }), 9);
    assert.equal(e.type.get('sluice_partition_fsyncs_total'), 'counter');
    assert.equal(find(e, 'sluice_partition_fsyncs_total', { partition: '1' }).length, 0, 'no fsync count, no series');

    parts = [{ ...parts[0], logEndOffset: 12 }];
    e = await scrape(m);
    assert.equal(calls, 2);
    assert.equal(valueOf(e, 'sluice_partition_log_end_offset', { topic: 'orders', partition: '0' }), 12);
    assert.equal(find(e, 'sluice_partition_log_end_offset', { partition: '1' }).length, 0);
  });

  it('collects groups: count by state (zeros included), members, committed offset and lag', async () => {
    const m = fresh();
    m.collectGroups(() => [
      {
        group: 'billing',
        state: 'Stable',
        members: 2,
        partitions: [
          { topic: 'orders', partition: 0, committedOffset: 6, logEndOffset: 10, lagMessages: 4, lagSeconds: 1.5 },
          { topic: 'orders', partition: 1, committedOffset: 7, logEndOffset: 7, lagMessages: 0 }, // lag age unknown
        ],
      },
      { group: 'idle', state: 'Empty', members: 0, partitions: [] },
    ]);
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_groups', { state: 'Stable' }), 1);
    assert.equal(valueOf(e, 'sluice_groups', { state: 'Empty' }), 1);
    assert.equal(valueOf(e, 'sluice_groups', { state: 'Assigning' }), 0);
    assert.equal(valueOf(e, 'sluice_group_members', { group: 'billing' }), 2);
    assert.equal(valueOf(e, 'sluice_group_members', { group: 'idle' }), 0);
    assert.equal(valueOf(e, 'sluice_group_coordinated', { group: 'billing' }), 1);
    assert.equal(valueOf(e, 'sluice_group_coordinated', { group: 'idle' }), 1);
    const gp = { group: 'billing', topic: 'orders', partition: '0' };
    assert.equal(valueOf(e, 'sluice_group_committed_offset', gp), 6);
    assert.equal(valueOf(e, 'sluice_group_lag_messages', gp), 4);
    assert.equal(valueOf(e, 'sluice_group_lag_seconds', gp), 1.5);
    assert.equal(valueOf(e, 'sluice_group_lag_messages', { ...gp, partition: '1' }), 0);
    assert.equal(find(e, 'sluice_group_lag_seconds', { ...gp, partition: '1' }).length, 0);
  });

  it('caps per-group series at maxGroups but still counts every group by state', async () => {
    const m = createBrokerMetrics({ collectDefault: false, maxGroups: 2 });
    m.collectGroups(() => ['a', 'b', 'c'].map((group) => ({ group, state: 'Stable', members: 1, partitions: [] })));
    const e = await scrape(m);
    assert.equal(find(e, 'sluice_group_members').length, 2);
    assert.equal(find(e, 'sluice_group_coordinated').length, 2);
    assert.equal(valueOf(e, 'sluice_groups', { state: 'Stable' }), 3);
  });

  it('collects queue-mode state per group and topic', async () => {
    const m = fresh();
    m.collectQueues(() => [
      { group: 'workers', topic: 'jobs', inFlight: 3, available: 7, delayed: 4, acked: 1, deadLettered: 2, cancelled: 4, oldestUnackedAgeSeconds: 12 },
    ]);
    const e = await scrape(m);
    const q = { group: 'workers', topic: 'jobs' };
    assert.equal(valueOf(e, 'sluice_queue_messages', { ...q, state: 'in_flight' }), 3);
    assert.equal(valueOf(e, 'sluice_queue_messages', { ...q, state: 'available' }), 7);
    assert.equal(valueOf(e, 'sluice_queue_messages', { ...q, state: 'delayed' }), 4);
    assert.equal(valueOf(e, 'sluice_queue_messages', { ...q, state: 'acked' }), 1);
    assert.equal(valueOf(e, 'sluice_queue_messages', { ...q, state: 'dead_lettered' }), 2);
    assert.equal(valueOf(e, 'sluice_queue_messages', { ...q, state: 'cancelled' }), 4);
    assert.equal(valueOf(e, 'sluice_queue_oldest_unacked_age_seconds', q), 12);
  });

  it('a collector that throws costs its series, not the scrape, and is counted', async () => {
    const m = fresh();
    m.produced('orders', 1, 10);
    m.collectPartitions(() => {
      throw new Error('disk gone');
    });
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_messages_in_total', { topic: 'orders' }), 1);
    assert.equal(find(e, 'sluice_partition_log_end_offset').length, 0);
    assert.equal(valueOf(e, 'sluice_metrics_collect_errors_total', { collector: 'partitions' }), 1);
  });

  it('escapes label values (group ids are client-chosen)', async () => {
    const m = fresh();
    const odd = 'we"ird\\group\nname';
    m.rebalance(odd);
    const e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_group_rebalances_total', { group: odd }), 1);
  });

  it('bounds api label cardinality: unseen names past the cap share `_other`', async () => {
    const m = fresh();
    for (let i = 0; i < 100; i++) m.request(`Api${i}`, 0.001);
    m.request('Api99', 0.001);
    const e = await scrape(m);
    const series = find(e, 'sluice_requests_total');
    assert.equal(series.length, 65); // 64 names + _other
    assert.equal(valueOf(e, 'sluice_requests_total', { api: '_other' }), 37);
    assert.equal(valueOf(e, 'sluice_requests_total', { api: 'Api0' }), 1);
  });

  it('follower side: lag per followed partition until it is no longer followed, fetch errors by code', async () => {
    const m = fresh();
    m.followerLag('orders', 0, 7);
    m.followerLag('orders', 1, 2);
    m.followerLag('orders', 0, 0);
    m.replicaFetchError('NETWORK_ERROR');
    m.replicaFetchError('NETWORK_ERROR');
    m.replicaFetchError('FENCED_LEADER_EPOCH');
    let e = await scrape(m);
    assert.equal(valueOf(e, 'sluice_follower_lag_messages', { topic: 'orders', partition: '0' }), 0);
    assert.equal(valueOf(e, 'sluice_follower_lag_messages', { topic: 'orders', partition: '1' }), 2);
    assert.equal(valueOf(e, 'sluice_replica_fetch_errors_total', { code: 'NETWORK_ERROR' }), 2);
    assert.equal(valueOf(e, 'sluice_replica_fetch_errors_total', { code: 'FENCED_LEADER_EPOCH' }), 1);
    m.followerLagRemoved('orders', 1);
    e = await scrape(m);
    assert.equal(find(e, 'sluice_follower_lag_messages').length, 1);
  });

  it('cluster: offline partitions as the collector reports them', async () => {
    const m = fresh();
    m.collectCluster(() => ({ sessionUp: true, controllerActive: true, liveBrokers: 3, leaderElections: 4, offlinePartitions: 2 }));
    assert.equal(valueOf(await scrape(m), 'sluice_cluster_offline_partitions'), 2);
  });

  it('every sluice family has help text and a type', async () => {
    const m = fresh();
    populateAll(m);
    const e = await scrape(m);
    const families = [...e.type.keys()].filter((n) => n.startsWith('sluice_'));
    assert.ok(families.length >= 25, `only ${families.length} families`);
    for (const f of families) assert.ok((e.help.get(f) ?? '').length > 10, `${f} has no help`);
  });

  it('includes default process/Node metrics only when asked', async () => {
    const on = await scrape(createBrokerMetrics({ collectDefault: true }));
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_cpu_seconds_total']) {
      assert.ok(on.type.has(name), name);
    }
    assert.ok(!on.type.has('nodejs_active_handles_total'), 'gauge named _total is removed (promtool lint)');
    const off = await scrape(fresh());
    assert.ok(![...off.type.keys()].some((n) => n.startsWith('nodejs_') || n.startsWith('process_')));
  });
});

describe('BrokerMetrics (no-op)', () => {
  it('accepts every call and exposes nothing', async () => {
    const m = createBrokerMetrics({ enabled: false });
    assert.equal(m.enabled, false);
    populateAll(m);
    m.connectionClosed();
    m.addBufferedBytes(1);
    assert.equal(await m.metricsText(), '');
  });
});
