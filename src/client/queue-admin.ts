/**
 * Share group (queue) administration: describe, reset and delete groups. A separate class from
 * Admin so the queue surface can grow without touching the topic admin. A group's requests go
 * to its coordinator (client/coordinator-route.ts with keyType 'share'): on a single broker
 * the home connection, in a cluster the leader of the group's `__share_state` partition.
 */
import { Api, type ShareCancelPartitionResult, type ShareDescribeResponse, type ShareGroupDescriptionWire, type ShareGroupSettings, type ShareResetResponse, type ShareResetTo } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import type { Connection } from './connection.js';
import { bootstrapUrls } from './broker-list.js';
import { BrokerPool, type ClientOptions } from './broker-pool.js';
import { CoordinatorRoute } from './coordinator-route.js';
import { clientLogger, type Logger } from './logger.js';

export type ShareGroupDescription = ShareGroupDescriptionWire & {
  /** The broker coordinating the group (node id); -1 or absent: the broker answering (single node). */
  coordinator?: number;
};
export type { ShareResetTo, ShareCancelPartitionResult };

/** What to cancel: offsets of one partition, or every unsettled record with a key (on one partition or all). */
export type CancelTarget =
  | { partition: number; offsets: number[] }
  | { key: string | Buffer; partition?: number };

export interface ShareOffsetReset {
  topic: string;
  partition: number;
  /** The group's start before (-1: it had not read the partition). */
  from: number;
  to: number;
}

export class QueueAdmin {
  /** The home connection: the first live broker of the bootstrap list. */
  readonly conn: Connection;
  private readonly pool: BrokerPool;
  private readonly log: Logger;
  private readonly routes = new Map<string, CoordinatorRoute>();

  constructor(opts: ClientOptions = {}) {
    this.log = clientLogger(opts);
    this.pool = new BrokerPool(bootstrapUrls(opts), { ...opts, logger: this.log }, opts.connectionFactory);
    this.conn = this.pool.home;
  }

  /**
   * Every share group's id. In a cluster each broker lists the groups it coordinates: every
   * live broker from Metadata is asked (as Admin.listGroups does) and the lists merged, sorted;
   * a broker that does not answer fails the call, since a partial list would look complete.
   */
  async listGroups(): Promise<string[]> {
    await this.pool.meta.refresh();
    if (!this.pool.meta.clustered) return groupIds(await this.conn.request(Api.ShareDescribe, {}));
    const lists = await Promise.all(this.pool.meta.brokerUrls().map((url) => this.pool.forUrl(url).request(Api.ShareDescribe, {})));
    // A group listed by two brokers (its coordinator moving meanwhile) once.
    return [...new Set(lists.flatMap(groupIds))].sort();
  }

  /**
   * One group's counts and its coordinator; throws GROUP_ID_NOT_FOUND for an unknown group.
   * `jobs`: also list up to that many jobs in flight (holder, since when, delivery count,
   * lock deadline, last progress) as `jobs`.
   */
  async describeGroup(groupId: string, opts: { jobs?: number } = {}): Promise<ShareGroupDescription> {
    const route = this.coordinatorOf(groupId);
    const coordinator = await route.find();
    const res = await route.request(Api.ShareDescribe, { groupIds: [groupId], ...(opts.jobs !== undefined && { jobs: opts.jobs }) });
    const g = res.groups[0];
    if ('error' in g) throw fromWireError(g.error);
    return { ...g, coordinator: route.coordinatorId ?? coordinator };
  }

  /**
   * Deletes a group with no workers: which records were acked, dead-lettered or are owed a
   * retry, and its settings. Throws GROUP_ID_NOT_FOUND, or NON_EMPTY_GROUP while workers
   * are in it (stop them, or wait for their session timeout).
   */
  async deleteGroup(groupId: string): Promise<void> {
    await this.coordinatorOf(groupId).request(Api.ShareDelete, { groupId });
  }

  /**
   * Moves where the group reads `topic` (every partition, or those named): `to` is
   * 'earliest', 'latest', {offset} (clamped to the log) or {timestamp} (the first record at
   * or after it; a Date works too). Every record from the new start is delivered again,
   * acked before or not, with delivery count 1. Throws NON_EMPTY_GROUP while workers are
   * in the group. With dryRun the plan comes back and nothing changes. An unknown group is
   * created, so a group can be placed before its first worker starts.
   */
  async resetOffsets(groupId: string, topic: string, to: ShareResetTo | { timestamp: Date },
    opts: { partitions?: number[]; dryRun?: boolean } = {}): Promise<ShareOffsetReset[]> {
    const wireTo = typeof to === 'object' && 'timestamp' in to && to.timestamp instanceof Date ? { timestamp: to.timestamp.getTime() } : to as ShareResetTo;
    const res = await this.coordinatorOf(groupId).request(Api.ShareReset, {
      groupId, topic, to: wireTo, ...(opts.partitions ? { partitions: opts.partitions } : {}), ...(opts.dryRun ? { dryRun: true } : {}),
    });
    return res.partitions;
  }

  /**
   * Cancels jobs of a group on `topic`: a job not yet taken is never delivered; one a worker
   * holds is archived as cancelled (not redelivered, not dead-lettered) and its worker's
   * handler sees its `signal` aborted. Per partition: what was cancelled (and who held it) and
   * what was skipped, with the reason (already settled, no such record, too far ahead).
   * Throws GROUP_ID_NOT_FOUND for an unknown group, UNKNOWN_TOPIC_OR_PARTITION.
   */
  async cancel(groupId: string, topic: string, target: CancelTarget): Promise<ShareCancelPartitionResult[]> {
    const body = 'offsets' in target
      ? { groupId, topic, partition: target.partition, offsets: target.offsets }
      : { groupId, topic, key: typeof target.key === 'string' ? Buffer.from(target.key) : target.key, ...(target.partition !== undefined && { partition: target.partition }) };
    const res = await this.coordinatorOf(groupId).request(Api.ShareCancel, body);
    return res.partitions;
  }

  /**
   * Changes settings of an existing group, applied from its next acquire and durable before
   * this resolves: e.g. `{ rateLimit: 50, maxInFlight: 10 }` (jobs per second, jobs held at
   * once, across all its workers; 0 = no limit). Resolves with every setting after the
   * change. Throws GROUP_ID_NOT_FOUND, or INVALID_CONFIG naming a setting out of range.
   */
  async alterGroup(groupId: string, settings: ShareGroupSettings): Promise<Required<ShareGroupSettings>> {
    const res = await this.coordinatorOf(groupId).request(Api.ShareAlter, { groupId, settings });
    return res.settings;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** A group's requests go to its coordinator; one route per group, kept. */
  private coordinatorOf(groupId: string): CoordinatorRoute {
    let r = this.routes.get(groupId);
    if (!r) this.routes.set(groupId, (r = new CoordinatorRoute(this.pool, groupId, { retryBackoffMs: 200, logger: this.log, keyType: 'share' })));
    return r;
  }
}

function groupIds(res: ShareDescribeResponse): string[] {
  return res.groups.map((g) => g.groupId);
}
