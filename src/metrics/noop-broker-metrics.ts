/**
 * BrokerMetrics for `metrics: false`: every method does nothing, so the broker's call sites
 * stay unconditional and the on/off benchmark measures exactly the cost of recording.
 */
import type { BrokerMetrics, ClusterStats, GroupStats, OpenFileStats, PartitionStats, QueueStats, ReplicationStats, StateLogName } from './broker-metrics.js';

export class NoopBrokerMetrics implements BrokerMetrics {
  readonly enabled = false;
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  produced(_topic: string, _messages: number, _bytes: number): void {}
  fetched(_topic: string, _messages: number | undefined, _bytes: number): void {}
  request(_api: string, _seconds: number, _errorName?: string): void {}
  partitionError(_api: string, _errorName: string): void {}
  fsync(_seconds: number): void {}
  connectionOpened(): void {}
  connectionClosed(): void {}
  authFailure(): void {}
  quotaRecorded(): void {}
  connectionRefused(): void {}
  connectionIdleClosed(): void {}
  setBufferedBytes(_bytes: number): void {}
  addBufferedBytes(_delta: number): void {}
  corruptRead(_topic: string): void {}
  recoveryDropped(_topic: string, _bytes: number, _records: number): void {}
  addReservedBytes(_delta: number): void {}
  rebalance(_group: string): void {}
  redelivered(_group: string, _n: number): void {}
  deadLettered(_group: string, _n: number): void {}
  deadLetterFailed(_group: string, _n: number): void {}
  shareLimited(_group: string, _limit: 'rate' | 'concurrency'): void {}
  stateRecordSkipped(_log: StateLogName): void {}
  isrShrunk(): void {}
  isrExpanded(): void {}
  followerLag(_topic: string, _partition: number, _messages: number): void {}
  followerLagRemoved(_topic: string, _partition: number): void {}
  replicaFetchError(_code: string): void {}
  collectPartitions(_fn: () => Iterable<PartitionStats>): void {}
  collectGroups(_fn: () => Iterable<GroupStats>): void {}
  collectQueues(_fn: () => Iterable<QueueStats>): void {}
  collectDelayedOperations(_fn: () => Iterable<readonly [string, number]>): void {}
  collectCluster(_fn: () => ClusterStats | undefined): void {}
  collectReplication(_fn: () => ReplicationStats): void {}
  collectOpenFiles(_fn: () => OpenFileStats): void {}
  async metricsText(): Promise<string> {
    return '';
  }
}
