/**
 * Share group (queue) administration: describe, reset and delete groups. A separate class from
 * Admin so the queue surface can grow without touching the topic admin.
 */
import { Api, type ShareDescribeResponse, type ShareGroupDescriptionWire, type ShareResetResponse, type ShareResetTo } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import type { Connection } from './connection.js';
import { bootstrapUrls } from './broker-list.js';
import { defaultConnectionFactory, type ClientOptions } from './broker-pool.js';

export type ShareGroupDescription = ShareGroupDescriptionWire;
export type { ShareResetTo };

export interface ShareOffsetReset {
  topic: string;
  partition: number;
  /** The group's start before (-1: it had not read the partition). */
  from: number;
  to: number;
}

export class QueueAdmin {
  readonly conn: Connection;

  constructor(opts: ClientOptions = {}) {
    this.conn = (opts.connectionFactory ?? defaultConnectionFactory)(bootstrapUrls(opts), opts);
  }

  /** Every share group's ids. */
  async listGroups(): Promise<string[]> {
    const res = await this.conn.request(Api.ShareDescribe, {});
    return res.groups.map((g) => g.groupId);
  }

  /** One group's counts; throws GROUP_ID_NOT_FOUND for an unknown group. */
  async describeGroup(groupId: string): Promise<ShareGroupDescription> {
    const res = await this.conn.request(Api.ShareDescribe, { groupIds: [groupId] });
    const g = res.groups[0];
    if ('error' in g) throw fromWireError(g.error);
    return g;
  }

  /**
   * Deletes a group with no workers: which records were acked, dead-lettered or are owed a
   * retry, and its settings. Throws GROUP_ID_NOT_FOUND, or NON_EMPTY_GROUP while workers
   * are in it (stop them, or wait for their session timeout).
   */
  async deleteGroup(groupId: string): Promise<void> {
    await this.conn.request(Api.ShareDelete, { groupId });
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
    const res = await this.conn.request(Api.ShareReset, {
      groupId, topic, to: wireTo, ...(opts.partitions ? { partitions: opts.partitions } : {}), ...(opts.dryRun ? { dryRun: true } : {}),
    });
    return res.partitions;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
