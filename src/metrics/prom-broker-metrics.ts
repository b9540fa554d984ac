/**
 * The Prometheus-backed BrokerMetrics. Every family is listed in docs/metrics.md; keep the
 * two in step. Names follow Prometheus conventions: `sluice_` prefix, base units (seconds,
 * bytes), `_total` on counters only, and `promtool check metrics` is clean on a full scrape
 * (test/metrics/promtool.test.ts).
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type {
  BrokerMetrics,
  BrokerMetricsOptions,
  ClusterStats,
  GroupStats,
  PartitionStats,
  QueueStats,
  ReplicationStats,
  OpenFileStats,
  StateLogName,
  QuotaKind,
  ConnectionRefusal,
} from './broker-metrics.js';
import { CONNECTION_REFUSALS } from './broker-metrics.js';
import {
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  OTHER_LABEL,
  ScrapeCounterFamily,
  ScrapeGaugeFamily,
  type CounterChild,
  type GaugeChild,
  type HistogramChild,
} from './families.js';

/**
 * 0.1 ms to 10 s, about 2.5x apart: a produce to page cache takes ~50 µs-1 ms, an fsync
 * 1-20 ms on SSD, a long-polling fetch up to `maxWaitMs`. 16 bounds keep a scrape of all
 * apis small and the observe search at 4 comparisons.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Group states that always have a `sluice_groups` series, so a dashboard shows 0 not "no data". */
export const GROUP_STATES: readonly string[] = ['Empty', 'Assigning', 'Reconciling', 'Stable', 'Dead'];

const UNCONVENTIONAL_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const MAX_TOPICS = 10_000;
const MAX_APIS = 64;
const MAX_ERRORS = 128;
const MAX_GROUPS = 1000;
/** Quota entities with their own series (sluice_quota_*): admins make the entries; past this, `_other`. */
const MAX_QUOTA_ENTITIES = 1000;

interface TopicChildren {
  messagesIn: CounterChild;
  bytesIn: CounterChild;
  messagesOut: CounterChild;
  bytesOut: CounterChild;
}

interface ApiChildren {
  requests: CounterChild;
  duration: HistogramChild;
  /** Keyed by error name; bounded by the wire error table (and MAX_ERRORS). */
  errors: Map<string, CounterChild>;
}

/** A cache with a size cap: past it, unseen keys all map to the value made for OTHER_LABEL. */
function bounded<V>(map: Map<string, V>, key: string, cap: number, make: (k: string) => V): V {
  const hit = map.get(key);
  if (hit !== undefined) return hit;
  if (map.size >= cap) {
    const other = map.get(OTHER_LABEL);
    if (other !== undefined) return other;
    key = OTHER_LABEL;
  }
  const v = make(key);
  map.set(key, v);
  return v;
}

/**
 * Runs `fn` at most once per scrape: a scrape calls every family's get() in one synchronous
 * pass (prom-client's Registry.metrics maps them into Promise.all), so a result cached until
 * the next microtask is shared by all families fed from one collector, e.g. the four
 * partition gauges walk the logs once.
 */
function oncePerScrape<T>(fn: () => T): () => T {
  let cached: { v: T } | undefined;
  return () => {
    if (cached === undefined) {
      cached = { v: fn() };
      queueMicrotask(() => (cached = undefined));
    }
    return cached.v;
  };
}

type Row = readonly [readonly (string | number)[], number];

export class PromBrokerMetrics implements BrokerMetrics {
  readonly enabled = true;
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  private readonly messagesIn: CounterFamily;
  private readonly bytesIn: CounterFamily;
  private readonly messagesOut: CounterFamily;
  private readonly bytesOut: CounterFamily;
  private readonly requests: CounterFamily;
  private readonly requestErrors: CounterFamily;
  private readonly requestDuration: HistogramFamily;
  private readonly fsyncChild: HistogramChild;
  private readonly connections: GaugeChild;
  private readonly connectionsOpened: CounterChild;
  private readonly authFailures: CounterFamily;
  private readonly quotaBytes: CounterFamily;
  private readonly quotaThrottleSeconds: CounterFamily;
  private readonly quotaThrottled: CounterFamily;
  private readonly connectionsRefused: CounterFamily;
  private readonly connectionsIdleClosed: CounterChild;
  private readonly bufferedBytes: GaugeChild;
  private readonly reservedBytes: GaugeChild;
  private readonly rebalances: CounterFamily;
  private readonly redeliveries: CounterFamily;
  private readonly deadLetters: CounterFamily;
  private readonly deadLetterFailures: CounterFamily;
  private readonly shareLimits: CounterFamily;
  private readonly collectErrors: CounterFamily;
  private readonly corruptReads: CounterFamily;
  private readonly recoveryDroppedBytes: CounterFamily;
  private readonly recoveryDroppedRecords: CounterFamily;
  private readonly stateSkipped: CounterFamily;
  private readonly isrShrinks: CounterChild;
  private readonly isrExpands: CounterChild;
  private readonly replicaFetchErrors: CounterFamily;
  /** Lag of each partition followed here, by `topic\0partition`: set per fetch answer, read at scrape time. */
  private readonly followerLags = new Map<string, { topic: string; partition: number; messages: number }>();

  private readonly topics = new Map<string, TopicChildren>();
  private readonly apis = new Map<string, ApiChildren>();
  private readonly maxGroups: number;

  private partitionsFn: () => Iterable<PartitionStats> = () => [];
  private groupsFn: () => Iterable<GroupStats> = () => [];
  private queuesFn: () => Iterable<QueueStats> = () => [];
  private delayedFn: () => Iterable<readonly [string, number]> = () => [];
  private clusterFn: () => ClusterStats | undefined = () => undefined;
  private replicationFn: () => ReplicationStats = () => ({ underReplicatedPartitions: 0, followers: [] });
  private openFilesFn: () => OpenFileStats | undefined = () => undefined;

  constructor(opts: BrokerMetricsOptions = {}) {
    const r = this.registry;
    this.maxGroups = opts.maxGroups ?? MAX_GROUPS;
    if (opts.collectDefault !== false) {
      collectDefaultMetrics({ register: r });
      // prom-client exports these three as gauges named *_total, which `promtool check
      // metrics` rejects (only counters end in _total). Each is the sum of the by-type gauge
      // it sits beside (nodejs_active_handles{type} ...), so sum() of that loses nothing.
      for (const name of UNCONVENTIONAL_DEFAULTS) r.removeSingleMetric(name);
    }

    const topic = ['topic'];
    this.messagesIn = new CounterFamily('sluice_messages_in_total', 'Records appended by produce requests.', topic, MAX_TOPICS).register(r);
    this.bytesIn = new CounterFamily('sluice_bytes_in_total', 'Record batch bytes appended by produce requests.', topic, MAX_TOPICS).register(r);
    this.messagesOut = new CounterFamily('sluice_messages_out_total', 'Records returned by fetch requests (counted from batch headers).', topic, MAX_TOPICS).register(r);
    this.bytesOut = new CounterFamily('sluice_bytes_out_total', 'Record batch bytes returned by fetch requests.', topic, MAX_TOPICS).register(r);

    this.requests = new CounterFamily('sluice_requests_total', 'Requests handled, by api.', ['api'], MAX_APIS).register(r);
    this.requestErrors = new CounterFamily(
      'sluice_request_errors_total',
      'Errors returned, by api and wire error name: whole-request failures and per-partition errors.',
      ['api', 'error'],
      MAX_APIS * MAX_ERRORS,
    ).register(r);
    this.requestDuration = new HistogramFamily(
      'sluice_request_duration_seconds',
      'Time from a request being decoded to its response being queued, by api.',
      ['api'],
      LATENCY_BUCKETS,
      MAX_APIS,
    ).register(r);
    this.fsyncChild = new HistogramFamily('sluice_fsync_duration_seconds', 'Duration of each fsync of a log or index file; _count is the number of fsyncs.', [], LATENCY_BUCKETS)
      .register(r)
      .child();

    this.connections = new GaugeFamily('sluice_connections', 'Open client connections.', []).register(r).child();
    this.connectionsOpened = new CounterFamily('sluice_connections_opened_total', 'Client connections accepted since start.', []).register(r).child();
    this.authFailures = new CounterFamily('sluice_auth_failures_total', 'Logins refused and requests refused for authentication, by reason (bad_credentials, unauthenticated_request, timeout, not_a_broker).', ['reason'], 8).register(r);
    // Entities: one per quota entry an admin made, plus `default`; the cap is the backstop.
    const quota = ['kind', 'entity'];
    this.quotaBytes = new CounterFamily('sluice_quota_bytes_total', 'Record bytes produced or fetched (kind) by entities with a byte-rate quota, by entity (user:NAME, client-id:NAME, or default for all under the default entry).', quota, 2 * MAX_QUOTA_ENTITIES).register(r);
    this.quotaThrottleSeconds = new CounterFamily('sluice_quota_throttle_seconds_total', 'Throttle time the answers of over-quota entities carried (the connection was muted this long), by kind and entity.', quota, 2 * MAX_QUOTA_ENTITIES).register(r);
    this.quotaThrottled = new CounterFamily('sluice_quota_throttled_total', 'Answers that carried a throttle time (the entity was over its byte-rate quota), by kind and entity.', quota, 2 * MAX_QUOTA_ENTITIES).register(r);
    this.connectionsRefused = new CounterFamily('sluice_connections_refused_total', 'Connections refused when they opened, by reason (max_connections, max_connections_per_ip, creation_rate).', ['reason'], CONNECTION_REFUSALS.length).register(r);
    for (const reason of CONNECTION_REFUSALS) this.connectionsRefused.child(reason);
    this.connectionsIdleClosed = new CounterFamily('sluice_connections_idle_closed_total', 'Connections closed after connectionsMaxIdleMs without a request (and nothing in flight or bound to them).', []).register(r).child();
    this.bufferedBytes = new GaugeFamily('sluice_buffered_bytes', 'Response bytes queued on sockets of slow clients, all connections.', []).register(r).child();
    this.reservedBytes = new GaugeFamily('sluice_reserved_bytes', 'Fetched record bytes reserved against the output budgets: being read or not yet queued on a socket, all connections.', []).register(r).child();

    const group = ['group'];
    this.rebalances = new CounterFamily('sluice_group_rebalances_total', 'Rebalances started, by consumer group.', group, this.maxGroups).register(r);
    this.redeliveries = new CounterFamily('sluice_queue_redeliveries_total', 'Queue-mode messages delivered again after a lock timeout or release.', group, this.maxGroups).register(r);
    this.deadLetters = new CounterFamily('sluice_queue_dead_lettered_total', 'Queue-mode messages moved to the dead-letter topic.', group, this.maxGroups).register(r);
    this.deadLetterFailures = new CounterFamily('sluice_queue_dead_letter_failures_total', 'Queue-mode messages whose dead-letter copy could not be written; they stay unarchived and the write is retried.', group, this.maxGroups).register(r);
    this.shareLimits = new CounterFamily('sluice_share_limited_total', 'Queue-mode acquires a share group\'s limit cut short (limit: rate or concurrency): work held back by the limit.', ['group', 'limit'], this.maxGroups * 2).register(r);

    this.corruptReads = new CounterFamily('sluice_corrupt_reads_total', 'Reads refused with CORRUPT_MESSAGE because a stored batch failed its check.', topic, MAX_TOPICS).register(r);
    this.recoveryDroppedBytes = new CounterFamily('sluice_recovery_dropped_bytes_total', 'Log bytes dropped by recovery at open (a torn or damaged tail and the segments after it).', topic, MAX_TOPICS).register(r);
    this.recoveryDroppedRecords = new CounterFamily('sluice_recovery_dropped_records_total', 'Records dropped by recovery at open, counted from the dropped batch headers.', topic, MAX_TOPICS).register(r);
    this.stateSkipped = new CounterFamily(
      'sluice_state_records_skipped_total',
      'State log records skipped at start-up because they did not decode or apply; each is copied to <data-dir>/quarantine.jsonl.',
      ['log'],
      2,
    ).register(r);
    // Both series from the start at 0, so an alert on increase() sees the first skip.
    for (const log of ['offsets', 'share_state'] as const) this.stateSkipped.child(log);

    this.isrShrinks = new CounterFamily('sluice_isr_shrinks_total', 'Cluster mode: ISR shrinks of partitions this broker leads (lagging followers removed, written to etcd).', []).register(r).child();
    this.isrExpands = new CounterFamily('sluice_isr_expands_total', 'Cluster mode: ISR expansions of partitions this broker leads (a caught-up follower rejoined, written to etcd).', []).register(r).child();

    this.replicaFetchErrors = new CounterFamily('sluice_replica_fetch_errors_total', 'Cluster mode: replica fetches of this broker (as a follower) that failed, whole requests or single partitions, by error code.', ['code'], MAX_ERRORS).register(r);

    this.registerScrapeGauges();
    // Registered after the scrape-time gauges: a scrape calls get() in registration order,
    // so a collector that throws is already counted in the same scrape that lacks its series.
    this.collectErrors = new CounterFamily('sluice_metrics_collect_errors_total', 'Scrape-time collectors that threw; their series are missing from that scrape.', ['collector'], 8).register(r);
  }

  // --- hot path -------------------------------------------------------------------

  private topic(name: string): TopicChildren {
    return bounded(this.topics, name, MAX_TOPICS, (k) => ({
      messagesIn: this.messagesIn.child(k),
      bytesIn: this.bytesIn.child(k),
      messagesOut: this.messagesOut.child(k),
      bytesOut: this.bytesOut.child(k),
    }));
  }

  private api(name: string): ApiChildren {
    return bounded(this.apis, name, MAX_APIS, (k) => ({
      requests: this.requests.child(k),
      duration: this.requestDuration.child(k),
      errors: new Map(),
    }));
  }

  private apiError(a: ApiChildren, api: string, errorName: string): CounterChild {
    return bounded(a.errors, errorName, MAX_ERRORS, (e) => this.requestErrors.child(api, e));
  }

  produced(topic: string, messages: number, bytes: number): void {
    const t = this.topic(topic);
    t.messagesIn.value += messages;
    t.bytesIn.value += bytes;
  }

  fetched(topic: string, messages: number | undefined, bytes: number): void {
    const t = this.topic(topic);
    if (messages !== undefined) t.messagesOut.value += messages;
    t.bytesOut.value += bytes;
  }

  request(api: string, seconds: number, errorName?: string): void {
    const a = this.api(api);
    a.requests.value++;
    a.duration.observe(seconds);
    if (errorName !== undefined) this.apiError(a, api, errorName).value++;
  }

  partitionError(api: string, errorName: string): void {
    this.apiError(this.api(api), api, errorName).value++;
  }

  fsync(seconds: number): void {
    this.fsyncChild.observe(seconds);
  }

  connectionOpened(): void {
    this.connections.value++;
    this.connectionsOpened.value++;
  }

  connectionClosed(): void {
    this.connections.value--;
  }

  authFailure(reason: string): void {
    this.authFailures.child(reason).value++;
  }

  quotaRecorded(kind: QuotaKind, entity: string, bytes: number, throttleMs: number): void {
    this.quotaBytes.child(kind, entity).value += bytes;
    if (throttleMs > 0) {
      this.quotaThrottled.child(kind, entity).value++;
      this.quotaThrottleSeconds.child(kind, entity).value += throttleMs / 1000;
    }
  }

  connectionRefused(reason: ConnectionRefusal): void {
    this.connectionsRefused.child(reason).value++;
  }

  connectionIdleClosed(): void {
    this.connectionsIdleClosed.value++;
  }

  setBufferedBytes(bytes: number): void {
    this.bufferedBytes.value = bytes;
  }

  addBufferedBytes(delta: number): void {
    this.bufferedBytes.value += delta;
  }

  corruptRead(topic: string): void {
    this.corruptReads.child(topic).value++;
  }

  recoveryDropped(topic: string, bytes: number, records: number): void {
    this.recoveryDroppedBytes.child(topic).value += bytes;
    this.recoveryDroppedRecords.child(topic).value += records;
  }

  addReservedBytes(delta: number): void {
    this.reservedBytes.value += delta;
  }

  rebalance(group: string): void {
    this.rebalances.child(group).value++;
  }

  redelivered(group: string, n: number): void {
    this.redeliveries.child(group).value += n;
  }

  deadLettered(group: string, n: number): void {
    this.deadLetters.child(group).value += n;
  }

  deadLetterFailed(group: string, n: number): void {
    this.deadLetterFailures.child(group).value += n;
  }

  shareLimited(group: string, limit: 'rate' | 'concurrency'): void {
    this.shareLimits.child(group, limit).value++;
  }

  stateRecordSkipped(log: StateLogName): void {
    this.stateSkipped.child(log).value++;
  }

  isrShrunk(): void {
    this.isrShrinks.value++;
  }

  isrExpanded(): void {
    this.isrExpands.value++;
  }

  followerLag(topic: string, partition: number, messages: number): void {
    // Bounded by the partitions placed here (one entry each, removed on unfollow).
    const key = `${topic}\0${partition}`;
    const e = this.followerLags.get(key);
    if (e) e.messages = messages;
    else this.followerLags.set(key, { topic, partition, messages });
  }

  followerLagRemoved(topic: string, partition: number): void {
    this.followerLags.delete(`${topic}\0${partition}`);
  }

  replicaFetchError(code: string): void {
    this.replicaFetchErrors.child(code).value++;
  }

  // --- scrape time ----------------------------------------------------------------

  collectPartitions(fn: () => Iterable<PartitionStats>): void {
    this.partitionsFn = fn;
  }

  collectGroups(fn: () => Iterable<GroupStats>): void {
    this.groupsFn = fn;
  }

  collectQueues(fn: () => Iterable<QueueStats>): void {
    this.queuesFn = fn;
  }

  collectDelayedOperations(fn: () => Iterable<readonly [string, number]>): void {
    this.delayedFn = fn;
  }

  collectCluster(fn: () => ClusterStats | undefined): void {
    this.clusterFn = fn;
  }

  collectReplication(fn: () => ReplicationStats): void {
    this.replicationFn = fn;
  }

  collectOpenFiles(fn: () => OpenFileStats): void {
    this.openFilesFn = fn;
  }

  async metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** Calls a collector, turning a throw into a counted, empty result rather than a failed scrape. */
  private safely<T>(name: string, fn: () => Iterable<T>): T[] {
    try {
      return Array.from(fn());
    } catch {
      this.collectErrors.child(name).value++;
      return [];
    }
  }

  private registerScrapeGauges(): void {
    const r = this.registry;
    const partitions = oncePerScrape(() => this.safely('partitions', this.partitionsFn));
    const tp = ['topic', 'partition'];
    const perPartition = (pick: (p: PartitionStats) => number) => (): Row[] =>
      partitions().map((p) => [[p.topic, p.partition], pick(p)] as const);
    new ScrapeGaugeFamily('sluice_partition_log_start_offset', 'Offset of the first record still stored.', tp, perPartition((p) => p.logStartOffset)).register(r);
    new ScrapeGaugeFamily('sluice_partition_log_end_offset', 'High watermark: the offset the next appended record will get.', tp, perPartition((p) => p.logEndOffset)).register(r);
    new ScrapeGaugeFamily('sluice_partition_size_bytes', 'Bytes on disk of the partition log segments.', tp, perPartition((p) => p.sizeBytes)).register(r);
    new ScrapeGaugeFamily('sluice_partition_segments', 'Number of log segments of the partition.', tp, perPartition((p) => p.segmentCount)).register(r);
    new ScrapeCounterFamily('sluice_partition_fsyncs_total', 'fsync rounds of the partition log since it was opened (one round may cover several files).', tp, () => {
      const rows: Row[] = [];
      for (const p of partitions()) if (p.fsyncCount !== undefined) rows.push([[p.topic, p.partition], p.fsyncCount]);
      return rows;
    }).register(r);

    const groups = oncePerScrape(() => this.safely('groups', this.groupsFn));
    // Cardinality guard: group ids are client-chosen, so per-group series stop at maxGroups.
    const reported = () => groups().slice(0, this.maxGroups);
    new ScrapeGaugeFamily('sluice_groups', 'Consumer groups, by state.', ['state'], () => {
      const byState = new Map<string, number>(GROUP_STATES.map((s) => [s, 0]));
      for (const g of groups()) byState.set(g.state, (byState.get(g.state) ?? 0) + 1);
      return Array.from(byState, ([s, n]) => [[s], n] as const);
    }).register(r);
    new ScrapeGaugeFamily('sluice_group_members', 'Members of the consumer group.', ['group'], () =>
      reported().map((g) => [[g.group], g.members] as const),
    ).register(r);
    // Which groups this broker coordinates: in a cluster each broker reports only its own.
    new ScrapeGaugeFamily('sluice_group_coordinated', 'Consumer groups coordinated by this broker (1 per group).', ['group'], () =>
      reported().map((g) => [[g.group], 1] as const),
    ).register(r);
    const gtp = ['group', 'topic', 'partition'];
    const perGroupPartition = (pick: (p: GroupStats['partitions'][number]) => number | undefined) => (): Row[] => {
      const rows: Row[] = [];
      for (const g of reported()) {
        for (const p of g.partitions) {
          const v = pick(p);
          if (v !== undefined) rows.push([[g.group, p.topic, p.partition], v]);
        }
      }
      return rows;
    };
    new ScrapeGaugeFamily('sluice_group_committed_offset', 'Offset committed by the group (next record it will consume).', gtp, perGroupPartition((p) => p.committedOffset)).register(r);
    new ScrapeGaugeFamily('sluice_group_lag_messages', 'Records between the committed offset and the high watermark.', gtp, perGroupPartition((p) => p.lagMessages)).register(r);
    new ScrapeGaugeFamily('sluice_group_lag_seconds', 'Age of the oldest record not yet committed by the group; 0 when caught up.', gtp, perGroupPartition((p) => p.lagSeconds)).register(r);

    const queues = oncePerScrape(() => this.safely('queues', this.queuesFn).slice(0, this.maxGroups));
    new ScrapeGaugeFamily('sluice_queue_messages', 'Queue-mode messages by delivery state (available, in_flight, acked, dead_lettered, cancelled; delayed: those of available waiting for a delivery time or a retry backoff).', ['group', 'topic', 'state'], () => {
      const rows: Row[] = [];
      for (const q of queues()) {
        rows.push([[q.group, q.topic, 'available'], q.available]);
        rows.push([[q.group, q.topic, 'delayed'], q.delayed]);
        rows.push([[q.group, q.topic, 'in_flight'], q.inFlight]);
        rows.push([[q.group, q.topic, 'acked'], q.acked]);
        rows.push([[q.group, q.topic, 'dead_lettered'], q.deadLettered]);
        rows.push([[q.group, q.topic, 'cancelled'], q.cancelled]);
      }
      return rows;
    }).register(r);
    new ScrapeGaugeFamily('sluice_queue_oldest_unacked_age_seconds', 'Age of the oldest delivered but unacknowledged queue-mode message; 0 when none.', ['group', 'topic'], () =>
      queues().map((q) => [[q.group, q.topic], q.oldestUnackedAgeSeconds] as const),
    ).register(r);

    // Cluster mode only: a single broker has no series here (the collector answers undefined).
    const cluster = oncePerScrape(() => this.safely('cluster', () => { const c = this.clusterFn(); return c ? [c] : []; }));
    const clusterRow = (pick: (c: ClusterStats) => number) => (): Row[] => cluster().map((c) => [[], pick(c)] as const);
    new ScrapeGaugeFamily('sluice_cluster_session_up', 'Cluster mode: 1 while the etcd session is valid (registered, not lost or self-fenced), else 0.', [], clusterRow((c) => (c.sessionUp ? 1 : 0))).register(r);
    new ScrapeGaugeFamily('sluice_cluster_controller_active', 'Cluster mode: 1 while this broker is the controller, else 0.', [], clusterRow((c) => (c.controllerActive ? 1 : 0))).register(r);
    new ScrapeGaugeFamily('sluice_cluster_live_brokers', 'Cluster mode: brokers registered in etcd, as this broker sees them.', [], clusterRow((c) => c.liveBrokers)).register(r);
    new ScrapeGaugeFamily('sluice_cluster_offline_partitions', 'Cluster mode, on the controller (0 elsewhere): partitions without a live leader.', [], clusterRow((c) => c.offlinePartitions)).register(r);
    new ScrapeGaugeFamily('sluice_cluster_failsafe_active', 'Cluster mode: 1 while this broker acknowledges writes without a trusted etcd session because every other broker granted its failsafe check (etcd down for everyone), else 0.', [], clusterRow((c) => (c.failsafeActive === true ? 1 : 0))).register(r);
    new ScrapeGaugeFamily('sluice_cluster_preferred_leader_imbalance', 'Cluster mode, on the controller (0 elsewhere): partitions not led by their preferred (first) replica.', [], clusterRow((c) => c.preferredLeaderImbalance ?? 0)).register(r);
    new ScrapeCounterFamily('sluice_cluster_leader_imbalance_checks_total', 'Cluster mode: automatic preferred-leader checks this broker ran as controller (every leaderImbalanceCheckIntervalMs; with autoLeaderRebalance off they move nothing).', [], clusterRow((c) => c.leaderImbalanceChecks ?? 0)).register(r);
    new ScrapeCounterFamily('sluice_cluster_auto_leader_elections_total', 'Cluster mode: leaderships the automatic preferred-leader check moved back to their preferred replica, as controller.', [], clusterRow((c) => c.autoLeaderElections ?? 0)).register(r);
    new ScrapeCounterFamily('sluice_cluster_leader_elections_total', 'Cluster mode: partition leader changes this broker wrote as controller (failover, offline, return).', [], clusterRow((c) => c.leaderElections)).register(r);
    // No series while no throttle is set: the rows come only from a broker with reassignmentThrottleBytesPerSec > 0.
    const throttleRow = (pick: (t: NonNullable<ClusterStats['throttle']>) => number) => (): Row[] =>
      cluster().flatMap((c) => (c.throttle === undefined ? [] : [[[], pick(c.throttle)] as const]));
    new ScrapeCounterFamily('sluice_replication_throttled_bytes_total', 'Cluster mode, with reassignmentThrottleBytesPerSec set: bytes this broker fetched for replicas a reassignment adds here (the throttled ones).', [], throttleRow((t) => t.bytes)).register(r);
    new ScrapeCounterFamily('sluice_replication_throttle_wait_seconds_total', 'Cluster mode, with reassignmentThrottleBytesPerSec set: time the throttle held those replicas back (throttled bytes / this time: the rate they got while held).', [], throttleRow((t) => t.waitedMs / 1000)).register(r);
    const replication = oncePerScrape(() => this.safely('replication', () => [this.replicationFn()])[0] ?? { underReplicatedPartitions: 0, followers: [] });
    new ScrapeGaugeFamily('sluice_under_replicated_partitions', 'Cluster mode: partitions this broker leads whose ISR is smaller than their replica set.', [], () =>
      [[[], replication().underReplicatedPartitions] as const],
    ).register(r);
    new ScrapeGaugeFamily('sluice_replica_lag_messages', 'Cluster mode: records a follower lacks, as the leader sees it (leader log end - follower log end at its last fetch).', ['topic', 'partition', 'replica'], () =>
      replication().followers.map((f) => [[f.topic, f.partition, f.replica], f.lagMessages] as const),
    ).register(r);

    new ScrapeGaugeFamily('sluice_follower_lag_messages', 'Cluster mode: records a partition followed here lacks (leader high watermark - local log end), as of the leader\'s last answer.', ['topic', 'partition'], () =>
      [...this.followerLags.values()].map((f) => [[f.topic, f.partition], f.messages] as const),
    ).register(r);

    // Read at scrape time from the LRU's counters: opening and evicting push nothing.
    const openFiles = (pick: (s: OpenFileStats) => number) => (): Row[] =>
      this.safely('open_files', () => { const s = this.openFilesFn(); return s ? [s] : []; }).map((s) => [[], pick(s)] as const);
    new ScrapeGaugeFamily('sluice_open_segment_files', 'Segment log files open now (pinned by an operation or idle in the LRU); at most maxOpenSegmentFiles plus those pinned.', [], openFiles((s) => s.open)).register(r);
    new ScrapeGaugeFamily('sluice_open_segment_files_max', 'The budget of open segment files (maxOpenSegmentFiles, or half the process file limit when 0).', [], openFiles((s) => s.capacity)).register(r);
    new ScrapeCounterFamily('sluice_segment_file_evictions_total', 'Idle segment files closed to stay within the budget or after EMFILE; a partition read or written again reopens its file.', [], openFiles((s) => s.evictions)).register(r);
    new ScrapeCounterFamily('sluice_segment_file_emfile_total', 'Opens of storage files that met EMFILE/ENFILE (out of descriptors) and were retried after closing idle segment files.', [], openFiles((s) => s.emfileRetries)).register(r);

    // Read at scrape time: parking and waking a long poll (the fetch hot path) pushes nothing.
    new ScrapeGaugeFamily('sluice_delayed_operations', 'Requests parked in a long poll (fetch below minBytes, share acquire with nothing to acquire), by kind.', ['kind'], () =>
      this.safely('delayed_operations', this.delayedFn).map(([kind, n]) => [[kind], n] as const),
    ).register(r);
  }
}
